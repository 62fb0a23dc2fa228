"""int8 through PT2E (torch.export, the CPU's inductor quantizer, inductor with freezing)."""
from __future__ import annotations

import contextlib
import importlib
import platform
from typing import Any, Callable, Mapping, Optional, Tuple

import torch

from .base import PIP_TORCHAO, BackendError, Log, Phase, _hooks, _is_arm64, _is_x86, _opt, _short
from .common import (
    MIN_TORCH_INT8,
    _calibration_label,
    _calibration_samples,
    _guard_inductor,
    _images_channels_last,
    _is_image,
    _torch_version,
)
from .inputs import call_model, named_tensors, split_inputs


def _split_shared_module_calls(graph) -> None:
    """Give each call of a shared module its own source partition.

    Models often reuse one module instance at several places (torchvision's ResNet
    blocks call the same ``self.relu`` three times). torch.export records every call
    under the module's one name (the innermost ``nn_module_stack`` entry, which the
    quantizer's source partitions fall back on), so the calls merge into one partition
    with several outputs and X86InductorQuantizer fails with "Input partition has more
    than one output node". Where such a group is made of several nodes of the same op
    (one per call), each call is renamed apart; a group of different ops (one call
    that decomposed into several nodes) is left alone.
    """
    groups = {}
    for node in graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if node.op != "call_function" or not stack or node.meta.get("source_fn_stack"):
            continue
        # Each call has its own key ("…relu", "…relu@1") but the same module path.
        groups.setdefault(list(stack.values())[-1][0], []).append(node)
    for fqn, nodes in groups.items():
        if len(nodes) < 2 or len({n.target for n in nodes}) != 1:
            continue
        for i, node in enumerate(nodes):
            stack = dict(node.meta["nn_module_stack"])
            key = list(stack.keys())[-1]
            stack[key] = (f"{fqn}__call{i}", stack[key][1])
            node.meta["nn_module_stack"] = stack


def tidy_for_quantization(exported: "torch.fx.GraphModule") -> None:
    """Make an exported graph digestible for the PT2E quantizers, in place.

    Unused branches go (a BERT pooler whose output nobody reads: a dead Linear -> Tanh
    makes the quantizer's fusion annotation fail), and calls of a shared module are
    split into partitions of their own. graviton-tune's probe uses this same function,
    so what was measured is what this helper serves.
    """
    exported.graph.eliminate_dead_code()
    _split_shared_module_calls(exported.graph)
    exported.recompile()


def _pt2e_api(say: Log) -> Tuple[Callable, Callable, Any, str]:
    """(prepare_pt2e, convert_pt2e, quantizer, description) for this CPU."""
    if not (_is_x86() or _is_arm64()):
        raise BackendError(
            "int8-unsupported",
            f"no PT2E int8 quantizer for this CPU architecture ({platform.machine()})",
            "int8 via PT2E needs an x86_64 or aarch64 CPU; measure the other recipes instead",
        )
    try:
        importlib.import_module("torchao")
        qp = importlib.import_module("torchao.quantization.pt2e.quantize_pt2e")
        base = "torchao.quantization.pt2e.quantizer"
        source = "torchao"
    except ImportError as err:
        torchao_err = err
        try:  # torch <= 2.9 still ships its own copy
            qp = importlib.import_module("torch.ao.quantization.quantize_pt2e")
            base = "torch.ao.quantization.quantizer"
            source = "torch.ao (deprecated)"
        except ImportError:
            raise BackendError(
                "missing-package",
                f"int8 through PT2E needs torchao, which is not importable ({_short(torchao_err)})",
                PIP_TORCHAO,
            ) from None

    if _is_x86():
        mod = importlib.import_module(f"{base}.x86_inductor_quantizer")
        quantizer = mod.X86InductorQuantizer()
        quantizer.set_global(mod.get_default_x86_inductor_quantization_config())
        name = "X86InductorQuantizer"
    else:
        try:
            mod = importlib.import_module(f"{base}.arm_inductor_quantizer")
        except ImportError:
            raise BackendError(
                "int8-unsupported",
                f"this {source} has no Arm inductor quantizer for aarch64",
                "pip install --upgrade torchao",
            ) from None
        quantizer = mod.ArmInductorQuantizer()
        quantizer.set_global(mod.get_default_arm_inductor_quantization_config())
        name = "ArmInductorQuantizer"
    say(f"int8: PT2E from {source} with {name} (static, per-tensor activations)")
    return qp.prepare_pt2e, qp.convert_pt2e, quantizer, name


def _require_cpp_compiler() -> None:
    try:
        from torch._inductor import cpp_builder

        cpp_builder.get_cpp_compiler()
    except ImportError:
        return  # an unusual torch build: let the first call tell
    except Exception as err:
        raise BackendError(
            "compiler-missing",
            f"torch.compile (needed by int8) found no working C++ compiler ({_short(err, 200)})",
            "sudo dnf install -y gcc-c++  (Amazon Linux, Fedora)  or  "
            "sudo apt-get install -y g++  (Debian, Ubuntu); or set CXX",
        ) from None


def _export_for_pt2e(model: Any, args: tuple, kwargs: Mapping[str, Any], say: Log) -> Tuple[Any, bool]:
    """torch.export for PT2E: (graph module, whether the export was strict).

    On aarch64 the export is strict: with the default non-strict export,
    ArmInductorQuantizer annotated nothing (seen under emulation with torch 2.9.1: no
    quantize/dequantize nodes, plain fp32 outputs), while a strict export got its q/dq
    pairs. A model strict export cannot capture falls back to non-strict; the
    quantize-node check after convert then tells whether anything was quantized.
    """
    attempts = [True, False] if _is_arm64() else [False]
    failure: Optional[BaseException] = None
    for strict in attempts:
        try:
            with torch.no_grad():
                exported = torch.export.export(model, args, kwargs or None, strict=strict).module()
            tidy_for_quantization(exported)
        except Exception as err:
            failure = err
            if strict:
                say(f"int8: strict torch.export failed ({_short(err, 200)}); trying non-strict", "warning")
            continue
        return exported, strict
    raise BackendError(
        "export-failed",
        f"torch.export could not capture the model for int8 ({_short(failure) if failure else 'unknown error'})",
        "int8 through PT2E needs a model torch.export can trace (no data-dependent "
        "Python control flow); skip int8 for this model",
    ) from None


def quantize_nodes(graph_module: Any) -> Tuple[int, int]:
    """(quantize, dequantize) call counts in a converted PT2E graph."""
    quantize = dequantize = 0
    for node in graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        name = str(node.target)
        if "dequantize" in name:
            dequantize += 1
        elif "quantize" in name:
            quantize += 1
    return quantize, dequantize


def prepare_int8(model: Any, example: Any, options: Optional[Mapping[str, Any]] = None,
                 log: Optional[Log] = None, phase: Optional[Phase] = None) -> Callable[..., Any]:
    """int8 through PT2E + inductor; returns a callable taking the model's arguments as the
    example does (positional, keyword, or both).

    torch.export -> PT2E prepare with the CPU's inductor quantizer (torchao's
    X86InductorQuantizer on x86_64, ArmInductorQuantizer on aarch64) -> calibration
    (the example plus CALIBRATION_BATCHES seeded inputs, or options["calibration"]) ->
    convert -> torch.compile(inductor) with freezing on (the quantized conv/linear
    patterns are fused into oneDNN int8 kernels only by inductor's freezing passes).
    Freezing is patched in around each call: torch.compile(options={"freezing": True})
    fails on torch 2.13 (qconv_prepack left unfolded), and a global setting would leak
    into other compiles in the process. The exported graph is specialised to the
    example's shape: the callable takes inputs of that shape only. torch >= 2.10 ships
    PT2E only inside torchao; older torch's torch.ao copy is used when torchao is absent.
    autocast "bf16" gives int8-mixed-bf16. channels_last applies to 4-D float inputs (the
    model is left as it is: inductor picks the int8 weight layouts itself).

    The callable returns what the model returns (bf16 parts under autocast). Compilation
    happens on its first call (BackendError compile-failed if that fails): warm it up.
    """
    say, step = _hooks(log, phase)
    if _torch_version() < MIN_TORCH_INT8:
        raise BackendError(
            "torch-too-old",
            f"int8 through PT2E needs torch >= {'.'.join(map(str, MIN_TORCH_INT8))}; "
            f"this is torch {torch.__version__}",
            "pip install --upgrade torch torchao",
        )
    prepare_pt2e, convert_pt2e, quantizer, quantizer_name = _pt2e_api(say)
    _require_cpp_compiler()
    _guard_inductor(say)

    model = model.eval()
    channels_last = bool(_opt(options, "channels_last", False))
    if channels_last and not any(_is_image(t) for _, t in named_tensors(example)):
        say("channelsLast ignored for int8: the input is not a 4-D float tensor")
        channels_last = False
    if channels_last:  # the inputs only: the caller's model is left as it is
        example = _images_channels_last(example)
        say("int8: channels_last input (inductor picks the int8 conv weight layout itself)")
    args, kwargs = split_inputs(example)

    step("export")
    exported, strict = _export_for_pt2e(model, args, kwargs, say)

    step("quantize")
    try:
        prepared = prepare_pt2e(exported, quantizer)
        samples = _calibration_samples(example, options)
        with torch.no_grad():
            for sample in samples:
                call_model(prepared, _images_channels_last(sample) if channels_last else sample)
        converted = convert_pt2e(prepared)
    except BackendError:
        raise
    except Exception as err:
        raise BackendError(
            "quantize-failed",
            f"PT2E int8 quantization failed ({_short(err)})",
            "skip int8 for this model, or try a newer torchao: pip install --upgrade torchao",
        ) from None
    quantize, dequantize = quantize_nodes(converted)
    if quantize == 0:
        # A silent no-op would pass the speed probe and the output check unnoticed.
        raise BackendError(
            "int8-nothing-quantized",
            f"PT2E int8 quantized nothing: {quantizer_name} annotated no operator of this model "
            f"({'strict' if strict else 'non-strict'} torch.export), so the graph stayed fp32",
            "skip int8 for this model; with your own model, check that its convolutions and "
            "linears are plain torch.nn modules or functional calls",
        )
    say(f"int8: {quantize} quantize and {dequantize} dequantize nodes in the converted graph")
    if _opt(options, "calibration") is not None:
        say(f"int8: calibrated on {_calibration_label(options, len(samples))}")

    import torch._inductor.config as inductor_config

    # Freezing is patched around every call (dynamo + AOT + inductor all see it, and a
    # recompile does too) instead of torch.compile(options=...), which breaks here, or a
    # global setting, which would leak into everything else in the process.
    compiled = torch.compile(converted, backend="inductor", dynamic=False)

    use_bf16 = _opt(options, "autocast") == "bf16"
    if use_bf16:
        say("int8: autocast bf16 on, so the non-quantized ops run in bf16 (int8-mixed-bf16)")

    def context() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        stack.enter_context(inductor_config.patch(freezing=True))
        if use_bf16:
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
        return stack

    state = {"first": True}

    def run(*inputs: Any, **named: Any) -> Any:
        if channels_last:
            inputs, named = _images_channels_last(inputs), _images_channels_last(named)
        if not state["first"]:
            with context():
                return compiled(*inputs, **named)
        try:
            with context():
                out = compiled(*inputs, **named)
        except Exception as err:
            raise BackendError(
                "compile-failed",
                f"compiling the int8 model with inductor failed ({_short(err)})",
                "skip int8 for this model; TORCH_LOGS=+inductor shows the details",
            ) from None
        state["first"] = False
        return out

    run.module = converted  # type: ignore[attr-defined]
    return run
