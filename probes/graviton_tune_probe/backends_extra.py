"""The backends beyond plain eager/compiled PyTorch: int8 (PT2E), ONNX Runtime, OpenVINO.

Public functions (run.py calls them; each returns a callable that takes the input batch as a
torch tensor and returns the model's first output as a torch float32 tensor):

    prepare_int8(model, example_input, cfg, emit)
    prepare_onnxruntime(model_or_path, example_input, cfg, emit)
    prepare_openvino(model_or_path, example_input, cfg, emit)

`cfg` is the ProbeConfig (config.py) or a plain dict with the camelCase keys of
source/core/types.ts; only `cfg.get(key, default)` is used. `emit` is protocol.emit.
Preparation emits `phase` events (export, quantize, compile) and `log` events for every
choice worth knowing. Compilation that happens lazily (torch.compile in the int8 path)
lands in the caller's first calls, that is its warm-up.

Routes, and why
- int8: torch.export -> PT2E prepare with the CPU's inductor quantizer (torchao's
  X86InductorQuantizer on x86_64, ArmInductorQuantizer on aarch64) -> calibration on a few
  seeded inputs -> convert -> torch.compile(inductor) with freezing on (the quantized
  conv/linear patterns are fused into oneDNN int8 kernels only by inductor's freezing
  passes). Freezing is patched in around each call: torch.compile(options={"freezing":
  True}) fails on torch 2.13 (qconv_prepack left unfolded), and a global setting would leak
  into other compiles in the process. The exported graph is specialised to the example's
  shape: the callable takes batches of that shape only.
  torch >= 2.10 ships PT2E only inside torchao; older torch's torch.ao copy is used when
  torchao is absent. bf16 autocast, when asked, gives int8-mixed-bf16.
- ONNX export: torch.onnx.export with the torch.export-based exporter (needs onnxscript)
  with a dynamic batch axis, then the same without dynamic axes, then the legacy
  TorchScript exporter (dynamo=False) as the last resort. The one that worked is logged.
- ONNX Runtime int8: static QDQ quantization (per-channel weights, MinMax calibration on
  seeded inputs) when the graph has convolutions, dynamic quantization (int8 MatMul weights,
  activations quantized on the fly) otherwise: the pairing ONNX Runtime's documentation
  recommends for CNNs and for transformers. Data types follow the guidance in
  onnxruntime.quantization.quantize_static: x86 U8S8 (reduce_range without VNNI), Arm S8S8.
- ONNX Runtime on aarch64 CPUs with bf16 (Graviton3 and newer): the session option
  mlas.enable_gemm_fastmath_arm64_bfloat16=1 (bf16 GEMM fast math; lossy, the caller's
  output check judges it).
- OpenVINO: PERFORMANCE_HINT=LATENCY. The probe runs one synchronous request per worker;
  THROUGHPUT would split the threads into several streams that only help when several
  requests are in flight at once, and the tool scales with its own pinned workers instead.
  Inputs are reshaped to the example's static shape (faster CPU kernels than dynamic).
  OpenVINO runs in bf16 by default on CPUs that have bf16 (checked: AMD Zen 4 with
  avx512_bf16 reports INFERENCE_PRECISION_HINT=bfloat16 when none is given), so the hint is
  always set: "bf16" only when asked (autocast bf16 or fp32Precision bf16) and the CPU has
  bf16, "f32" otherwise, so an fp32 measurement really is fp32.
- OpenVINO int8: NNCF post-training quantization (nncf.quantize) on the converted model,
  ModelType.TRANSFORMER for token inputs.

Error codes (ProbeError.code), stable:
- missing-package     a needed Python package is not importable (hint: the pip command)
- torch-too-old       torch too old for torch.export / PT2E int8
- int8-unsupported    no PT2E quantizer for this CPU architecture
- compiler-missing    inductor (int8 path) needs a C++ compiler and none works
- export-failed       torch.export / ONNX export / OpenVINO conversion failed
- quantize-failed     calibration or quantization failed
- compile-failed      the first int8 call (inductor compilation) failed
- model-not-found     the .onnx path does not exist
- session-failed      ONNX Runtime could not load the model / OpenVINO could not compile it
- onnx-inputs         the ONNX model has inputs the probe cannot fill
- bf16-unsupported    bf16 was asked of OpenVINO on a CPU without bf16
- inference-failed    the first inference call of ONNX Runtime / OpenVINO failed
"""
from __future__ import annotations

import importlib
import os
import platform
import re
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .protocol import ProbeError

# Lowest torch for the int8 route: torch.export with pre-dispatch graphs and inductor's
# oneDNN int8 lowerings (the PT2E tutorials start at 2.5 for the x86 path).
MIN_TORCH_INT8 = (2, 5)
CALIBRATION_BATCHES = 4

PIP_TORCHAO = "pip install torchao"
PIP_ORT = "pip install onnxruntime onnx onnxscript"
PIP_OPENVINO = "pip install openvino"
PIP_NNCF = "pip install nncf"

Emit = Callable[..., None]


# ---------------------------------------------------------------------------------------
# small helpers


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    try:
        value = cfg.get(key, default)
    except AttributeError:
        value = getattr(cfg, key, default)
    return default if value is None else value


def _log(emit: Emit, message: str, level: str = "info") -> None:
    emit("log", level=level, message=message)


def _short(err: BaseException, limit: int = 400) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    text = text.splitlines()[0] if "\n" in text and len(text) > limit else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require(module: str, hint: str, what: Optional[str] = None) -> Any:
    """Import `module` or raise missing-package with the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ProbeError(
            "missing-package",
            f"{what or module} is not installed in this Python environment ({_short(err)})",
            hint,
        ) from None


def _machine() -> str:
    return platform.machine().lower()


def _is_x86() -> bool:
    return _machine() in ("x86_64", "amd64", "i686", "i386")


def _is_arm64() -> bool:
    return _machine() in ("aarch64", "arm64")


def _cpu_features() -> set:
    """Flags (x86 `flags`) or Features (Arm `Features`) of the first CPU in /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def _cpu_has_bf16(features: Optional[set] = None) -> bool:
    features = _cpu_features() if features is None else features
    if _is_arm64():
        return "bf16" in features
    return bool(features & {"avx512_bf16", "amx_bf16"})


def _threads(cfg: Any) -> int:
    value = _get(cfg, "threadsPerWorker")
    if isinstance(value, int) and value > 0:
        return value
    import torch

    return max(1, torch.get_num_threads())


def _bf16_requested(cfg: Any) -> bool:
    return _get(cfg, "autocast") == "bf16" or _get(cfg, "fp32Precision") == "bf16"


def _first_tensor(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict) or hasattr(out, "values"):
        for value in out.values():
            found = _first_tensor(value)
            if found is not None:
                return found
        return None
    if isinstance(out, (list, tuple)):
        for value in out:
            found = _first_tensor(value)
            if found is not None:
                return found
    return None


def _calibration_inputs(example: Any, count: int, seed: int) -> List[Any]:
    """The example itself plus `count` seeded inputs of the same shape and dtype.

    Float inputs: standard normal. Integer inputs (token ids): uniform in [0, max(example)].
    """
    import torch

    gen = torch.Generator().manual_seed(int(seed) + 1234)
    out = [example]
    for _ in range(count):
        if example.is_floating_point():
            x = torch.randn(example.shape, generator=gen, dtype=torch.float32).to(example.dtype)
        else:
            high = max(int(example.max().item()) + 1, 2)
            x = torch.randint(0, high, tuple(example.shape), generator=gen, dtype=example.dtype)
        out.append(x)
    return out


def _torch_version() -> Tuple[int, int]:
    import torch

    match = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


# ---------------------------------------------------------------------------------------
# int8 through PT2E


def _pt2e_api(emit: Emit) -> Tuple[Callable, Callable, Any, str]:
    """(prepare_pt2e, convert_pt2e, quantizer, description) for this CPU."""
    if not (_is_x86() or _is_arm64()):
        raise ProbeError(
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
            raise ProbeError(
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
            raise ProbeError(
                "int8-unsupported",
                f"this {source} has no Arm inductor quantizer for aarch64",
                "pip install --upgrade torchao",
            ) from None
        quantizer = mod.ArmInductorQuantizer()
        quantizer.set_global(mod.get_default_arm_inductor_quantization_config())
        name = "ArmInductorQuantizer"
    _log(emit, f"int8: PT2E from {source} with {name} (static, per-tensor activations)")
    return qp.prepare_pt2e, qp.convert_pt2e, quantizer, name


def _require_cpp_compiler() -> None:
    try:
        from torch._inductor import cpp_builder

        cpp_builder.get_cpp_compiler()
    except ImportError:
        return  # an unusual torch build: let the first call tell
    except Exception as err:
        raise ProbeError(
            "compiler-missing",
            f"torch.compile (needed by int8) found no working C++ compiler ({_short(err, 200)})",
            "sudo dnf install -y gcc-c++  (Amazon Linux, Fedora)  or  "
            "sudo apt-get install -y g++  (Debian, Ubuntu); or set CXX",
        ) from None


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


def prepare_int8(model: Any, example_input: Any, cfg: Any, emit: Emit) -> Callable[[Any], Any]:
    """int8 via PT2E + inductor. The compile happens on the first calls (the warm-up)."""
    import contextlib

    import torch

    if _torch_version() < MIN_TORCH_INT8:
        raise ProbeError(
            "torch-too-old",
            f"int8 through PT2E needs torch >= {'.'.join(map(str, MIN_TORCH_INT8))}; "
            f"this is torch {torch.__version__}",
            "pip install --upgrade torch torchao",
        )
    prepare_pt2e, convert_pt2e, quantizer, _ = _pt2e_api(emit)
    _require_cpp_compiler()

    model = model.eval()
    x = example_input
    channels_last = bool(_get(cfg, "channelsLast", False))
    if channels_last and not (x.dim() == 4 and x.is_floating_point()):
        _log(emit, "channelsLast ignored for int8: the input is not a 4-D float tensor")
        channels_last = False
    if channels_last:  # the input only: the caller's model is left as it is
        x = x.contiguous(memory_format=torch.channels_last)
        _log(emit, "int8: channels_last input (inductor picks the int8 conv weight layout itself)")

    emit("phase", phase="export")
    try:
        with torch.no_grad():
            exported = torch.export.export(model, (x,)).module()
        # Drop unused branches (e.g. a BERT pooler when only the hidden states are returned):
        # a dead Linear -> Tanh makes the quantizer's fusion annotation fail.
        exported.graph.eliminate_dead_code()
        _split_shared_module_calls(exported.graph)
        exported.recompile()
    except Exception as err:
        raise ProbeError(
            "export-failed",
            f"torch.export could not capture the model for int8 ({_short(err)})",
            "int8 through PT2E needs a model torch.export can trace (no data-dependent "
            "Python control flow); skip int8 for this model",
        ) from None

    emit("phase", phase="quantize")
    seed = int(_get(cfg, "seed", 0))
    try:
        prepared = prepare_pt2e(exported, quantizer)
        with torch.no_grad():
            for sample in _calibration_inputs(x, CALIBRATION_BATCHES, seed):
                if channels_last:
                    sample = sample.contiguous(memory_format=torch.channels_last)
                prepared(sample)
        converted = convert_pt2e(prepared)
    except ProbeError:
        raise
    except Exception as err:
        raise ProbeError(
            "quantize-failed",
            f"PT2E int8 quantization failed ({_short(err)})",
            "skip int8 for this model, or try a newer torchao: pip install --upgrade torchao",
        ) from None

    import torch._inductor.config as inductor_config

    # Freezing is patched around every call (dynamo + AOT + inductor all see it, and a
    # recompile does too) instead of torch.compile(options=...), which breaks here, or a
    # global setting, which would leak into everything else in the process.
    compiled = torch.compile(converted, backend="inductor", dynamic=False)

    use_bf16 = _get(cfg, "autocast") == "bf16"
    if use_bf16:
        _log(emit, "int8: autocast bf16 on, so the non-quantized ops run in bf16 (int8-mixed-bf16)")

    def context():
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        stack.enter_context(inductor_config.patch(freezing=True))
        if use_bf16:
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
        return stack

    state = {"first": True}

    def run(inp: Any) -> Any:
        if channels_last and inp.dim() == 4:
            inp = inp.contiguous(memory_format=torch.channels_last)
        if not state["first"]:
            with context():
                return _first_tensor(compiled(inp)).float()
        try:
            with context():
                out = _first_tensor(compiled(inp)).float()
        except Exception as err:
            raise ProbeError(
                "compile-failed",
                f"compiling the int8 model with inductor failed ({_short(err)})",
                "skip int8 for this model; TORCH_LOGS=+inductor shows the details",
            ) from None
        state["first"] = False
        return out

    return run


# ---------------------------------------------------------------------------------------
# inputs of ONNX / OpenVINO graphs


def _fill_extra_input(name: str, shape: Sequence[int], dtype: Any) -> Any:
    import numpy as np

    lowered = name.lower()
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        if "mask" in lowered:
            return np.ones(shape, dtype=dtype)
        return np.zeros(shape, dtype=dtype)  # token_type_ids, position-like ids of 0
    raise ProbeError(
        "onnx-inputs",
        f"the model has a second float input {name!r} the probe cannot fill",
        "give the probe a model with one input (extra integer inputs such as attention_mask "
        "and token_type_ids are filled automatically)",
    )


def _feeder(inputs: Sequence[Tuple[Any, Any]], emit: Emit) -> Callable[[Any], Any]:
    """A function: torch tensor -> list of numpy arrays, one per graph input, in order.

    `inputs` holds (name, numpy dtype) pairs. The first input gets the tensor; further integer
    inputs are filled (attention masks with ones, others with zeros) for the same shape.
    """
    import numpy as np

    first_dtype = inputs[0][1]
    extra = list(inputs[1:])
    if extra:
        _log(emit, "extra model inputs filled automatically: "
                   + ", ".join(f"{n} ({'ones' if 'mask' in str(n).lower() else 'zeros'})" for n, _ in extra))
    cache: Dict[Tuple[int, ...], List[Any]] = {}

    def feeds(tensor: Any) -> List[Any]:
        arr = tensor.detach().contiguous().numpy()
        if arr.dtype != first_dtype:
            arr = arr.astype(first_dtype)
        if not extra:
            return [arr]
        shape = tuple(arr.shape)
        if shape not in cache:
            cache[shape] = [_fill_extra_input(str(n), shape, d) for n, d in extra]
        return [arr] + cache[shape]

    # Fail now, not in the middle of the warm-up, if a float extra input cannot be filled.
    for name, dtype in extra:
        _fill_extra_input(str(name), (1,), dtype)
    return feeds


# ---------------------------------------------------------------------------------------
# ONNX export


def _export_onnx(model: Any, example_input: Any, directory: str, emit: Emit) -> str:
    """Export to directory/model.onnx, trying the routes in order; returns the path."""
    import torch

    path = os.path.join(directory, "model.onnx")
    model = model.eval()
    x = example_input
    if x.is_floating_point() and x.dim() == 4:
        x = x.contiguous()  # an NCHW graph; ONNX Runtime picks its own layouts
    batch = getattr(torch.export.Dim, "AUTO", None)
    routes: List[Tuple[str, Dict[str, Any]]] = []
    try:
        importlib.import_module("onnxscript")
        have_onnxscript = True
    except ImportError:
        have_onnxscript = False
        _log(emit, "onnxscript is not installed: the torch.export-based ONNX exporter is "
                   "unavailable, trying the legacy TorchScript exporter (pip install onnxscript)",
             level="warning")
    if have_onnxscript:
        if batch is not None:
            routes.append(("torch.export-based exporter, dynamic batch",
                           {"dynamo": True, "dynamic_shapes": ({0: batch},)}))
        routes.append(("torch.export-based exporter, fixed shapes", {"dynamo": True}))
    routes.append(("legacy TorchScript exporter, dynamic batch",
                   {"dynamo": False, "dynamic_axes": {"input": {0: "batch"}}}))

    failures = []
    for label, kwargs in routes:
        for leftover in os.listdir(directory):
            os.remove(os.path.join(directory, leftover))
        try:
            import warnings

            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (x,), path, input_names=["input"], verbose=False, **kwargs)
            if not os.path.exists(path):
                raise RuntimeError("the exporter wrote no file")
        except Exception as err:
            failures.append(f"{label}: {_short(err, 300)}")
            _log(emit, f"ONNX export route failed ({label}): {_short(err, 300)}", level="warning")
            continue
        _log(emit, f"ONNX export: {label}")
        return path
    raise ProbeError(
        "export-failed",
        "the model could not be exported to ONNX (" + "; ".join(failures) + ")",
        "export it yourself and pass the .onnx file as the model, or skip the ONNX backends",
    )


def _onnx_input_info(model_path: str) -> List[Tuple[str, Any]]:
    import onnx
    from onnx import helper

    graph = onnx.load(model_path, load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    out = []
    for value in graph.input:
        if value.name in initializers:
            continue
        out.append((value.name, helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)))
    return out


def _onnx_has_conv(model_path: str) -> bool:
    import onnx

    model = onnx.load(model_path, load_external_data=False)
    ops = {node.op_type for node in model.graph.node}
    for function in model.functions:
        ops.update(node.op_type for node in function.node)
    return bool(ops & {"Conv", "ConvTranspose"})


def _ort_quantize(src: str, example_input: Any, cfg: Any, directory: str, emit: Emit) -> str:
    from onnxruntime import quantization as oq

    emit("phase", phase="quantize")
    dst = os.path.join(directory, "model.int8.onnx")
    try:
        has_conv = _onnx_has_conv(src)
        pre = os.path.join(directory, "model.pre.onnx")
        try:  # recommended before quantizing: shape inference + graph clean-up
            oq.quant_pre_process(src, pre, skip_symbolic_shape=has_conv,
                                 save_as_external_data=True)
        except Exception as err:
            _log(emit, f"quantization pre-processing skipped ({_short(err, 200)})", level="warning")
            pre = src

        if not has_conv:
            oq.quantize_dynamic(pre, dst, weight_type=oq.QuantType.QInt8,
                                use_external_data_format=True)
            _log(emit, "ONNX Runtime int8: dynamic quantization (int8 weights, activations "
                       "quantized on the fly): no convolutions in the graph")
            return dst

        inputs = _onnx_input_info(pre)
        feeds = _feeder(inputs, emit)
        names = [name for name, _ in inputs]
        samples = [dict(zip(names, feeds(t)))
                   for t in _calibration_inputs(example_input, CALIBRATION_BATCHES,
                                                int(_get(cfg, "seed", 0)))]

        class Reader(oq.CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(samples)

            def get_next(self):  # noqa: D401 - the onnxruntime interface
                return next(self._it, None)

        features = _cpu_features()
        if _is_x86():
            act = oq.QuantType.QUInt8
            reduce_range = not (features & {"avx512_vnni", "avx_vnni", "amx_int8"})
            types = "U8S8" + (", reduce_range (no VNNI)" if reduce_range else "")
        else:
            act = oq.QuantType.QInt8
            reduce_range = False
            types = "S8S8"
        oq.quantize_static(pre, dst, Reader(), quant_format=oq.QuantFormat.QDQ,
                           per_channel=True, reduce_range=reduce_range, activation_type=act,
                           weight_type=oq.QuantType.QInt8, use_external_data_format=True)
        _log(emit, f"ONNX Runtime int8: static QDQ quantization ({types}, per-channel weights, "
                   f"MinMax calibration on {len(samples)} seeded batches): the graph has convolutions")
        return dst
    except ProbeError:
        raise
    except Exception as err:
        raise ProbeError(
            "quantize-failed",
            f"ONNX Runtime int8 quantization failed ({_short(err)})",
            "skip int8 for the ONNX Runtime backend for this model",
        ) from None


def _onnx_path(model_or_path: Any) -> Optional[str]:
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise ProbeError("model-not-found", f"model file not found: {path}",
                             "check the --model path")
        return path
    return None


def _first_call_guard(fn: Callable[[Any], Any], backend: str) -> Callable[[Any], Any]:
    state = {"first": True}

    def run(x: Any) -> Any:
        if not state["first"]:
            return fn(x)
        try:
            out = fn(x)
        except ProbeError:
            raise
        except Exception as err:
            raise ProbeError(
                "inference-failed",
                f"{backend} failed on the first batch ({_short(err)})",
                "check the model's input shape and dtype (model.inputShape, model.inputDtype)",
            ) from None
        state["first"] = False
        return out

    return run


# ---------------------------------------------------------------------------------------
# ONNX Runtime


def prepare_onnxruntime(model_or_path: Any, example_input: Any, cfg: Any, emit: Emit) -> Callable[[Any], Any]:
    """ONNX Runtime on the CPU execution provider. Accepts an nn.Module or an .onnx path."""
    ort = _require("onnxruntime", PIP_ORT, "ONNX Runtime (onnxruntime)")
    import torch

    workdir = tempfile.TemporaryDirectory(prefix="graviton-tune-onnx-")
    path = _onnx_path(model_or_path)
    int8 = _get(cfg, "quantization") == "int8"
    if path is None or int8:
        _require("onnx", PIP_ORT)
    if path is None:
        emit("phase", phase="export")
        path = _export_onnx(model_or_path, example_input, workdir.name, emit)
    if int8:
        path = _ort_quantize(path, example_input, cfg, workdir.name, emit)

    threads = _threads(cfg)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if _is_arm64():
        if _cpu_has_bf16():
            options.add_session_config_entry("mlas.enable_gemm_fastmath_arm64_bfloat16", "1")
            _log(emit, "ONNX Runtime: bf16 GEMM fast math on "
                       "(mlas.enable_gemm_fastmath_arm64_bfloat16=1, this CPU has bf16)")
        else:
            _log(emit, "ONNX Runtime: bf16 GEMM fast math off: this CPU has no bf16 "
                       "(needs Graviton3 / Neoverse V1 or newer)")
    else:
        if _bf16_requested(cfg):
            _log(emit, "ONNX Runtime: no bf16 route for fp32 models on this CPU; "
                       "autocast/fp32Precision bf16 has no effect here", level="warning")
    if _get(cfg, "channelsLast", False):
        _log(emit, "ONNX Runtime: channelsLast has no effect (it chooses its own layouts)")

    emit("phase", phase="compile")
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ProbeError(
            "session-failed",
            f"ONNX Runtime could not load the model ({_short(err)})",
            "check the model with: python -m onnxruntime.tools.check_onnx_model_mobile_usability "
            "MODEL.onnx, or upgrade: pip install --upgrade onnxruntime",
        ) from None
    _log(emit, f"ONNX Runtime {ort.__version__}: CPUExecutionProvider, {threads} intra-op threads, "
               "graph optimisation all")

    type_map = {"tensor(float)": "float32", "tensor(double)": "float64",
                "tensor(float16)": "float16", "tensor(int64)": "int64",
                "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(uint8)": "uint8",
                "tensor(int8)": "int8"}
    import numpy as np

    inputs = [(i.name, np.dtype(type_map.get(i.type, "float32"))) for i in session.get_inputs()]
    feeds = _feeder(inputs, emit)
    names = [name for name, _ in inputs]
    output = session.get_outputs()[0].name

    def run(x: Any) -> Any:
        result = session.run([output], dict(zip(names, feeds(x))))[0]
        return torch.from_numpy(np.asarray(result)).float()

    guarded = _first_call_guard(run, "ONNX Runtime")
    guarded.workdir = workdir  # type: ignore[attr-defined]  # keep the files while in use
    guarded.session = session  # type: ignore[attr-defined]
    return guarded


# ---------------------------------------------------------------------------------------
# OpenVINO


def _openvino_precision(cfg: Any, core: Any, emit: Emit) -> str:
    if not _bf16_requested(cfg):
        _log(emit, "OpenVINO: INFERENCE_PRECISION_HINT=f32 (set explicitly: OpenVINO would "
                   "otherwise run in bf16 on CPUs that have it)")
        return "f32"
    cpu_bf16 = _cpu_has_bf16()
    try:
        ov_bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        ov_bf16 = cpu_bf16
    if not (cpu_bf16 and ov_bf16):
        why = "this CPU has no bf16 instructions" if not cpu_bf16 else \
            "OpenVINO does not offer BF16 on this CPU"
        raise ProbeError(
            "bf16-unsupported",
            f"bf16 was asked of OpenVINO but {why}",
            "bf16 needs avx512_bf16 or amx_bf16 (x86) or bf16 (Arm: Graviton3 or newer); "
            "measure OpenVINO without autocast/fp32Precision bf16",
        )
    _log(emit, "OpenVINO: INFERENCE_PRECISION_HINT=bf16 (asked, and the CPU has bf16)")
    return "bf16"


def prepare_openvino(model_or_path: Any, example_input: Any, cfg: Any, emit: Emit) -> Callable[[Any], Any]:
    """OpenVINO on "CPU". Accepts an nn.Module or a model file OpenVINO reads (.onnx, .xml)."""
    ov = _require("openvino", PIP_OPENVINO, "OpenVINO (openvino)")
    import numpy as np
    import torch

    int8 = _get(cfg, "quantization") == "int8"
    nncf = _require("nncf", PIP_NNCF, "NNCF (nncf), needed for OpenVINO int8") if int8 else None

    core = ov.Core()
    path = _onnx_path(model_or_path)
    emit("phase", phase="export")
    try:
        if path is not None:
            ov_model = core.read_model(path)
        else:
            model = model_or_path.eval()
            x = example_input.contiguous() if example_input.is_floating_point() else example_input
            with torch.no_grad():
                ov_model = ov.convert_model(model, example_input=x)
    except Exception as err:
        raise ProbeError(
            "export-failed",
            f"OpenVINO could not convert the model ({_short(err)})",
            "export the model to ONNX and pass the .onnx file, or skip the OpenVINO backend",
        ) from None

    shape = list(example_input.shape)
    try:
        static = {port: ov.PartialShape(shape) for port in ov_model.inputs
                  if port.get_partial_shape().rank.is_static
                  and port.get_partial_shape().rank.get_length() == len(shape)}
        if static:
            ov_model.reshape(static)
            _log(emit, f"OpenVINO: inputs fixed to the shape {shape} (static shapes run faster)")
    except Exception as err:
        _log(emit, f"OpenVINO: kept dynamic input shapes ({_short(err, 200)})", level="warning")

    inputs = []
    for port in ov_model.inputs:
        try:
            name = port.get_any_name()
        except RuntimeError:
            name = f"input{len(inputs)}"
        inputs.append((name, np.dtype(port.get_element_type().to_dtype())))
    feeds = _feeder(inputs, emit)

    if int8:
        emit("phase", phase="quantize")
        samples = [feeds(t) for t in _calibration_inputs(example_input, CALIBRATION_BATCHES,
                                                         int(_get(cfg, "seed", 0)))]
        kwargs: Dict[str, Any] = {"subset_size": len(samples)}
        if not example_input.is_floating_point():
            kwargs["model_type"] = nncf.ModelType.TRANSFORMER
        try:
            ov_model = nncf.quantize(ov_model, nncf.Dataset(samples), **kwargs)
        except Exception as err:
            raise ProbeError(
                "quantize-failed",
                f"NNCF int8 quantization failed ({_short(err)})",
                "skip int8 for the OpenVINO backend, or: pip install --upgrade nncf openvino",
            ) from None
        _log(emit, f"OpenVINO int8: NNCF post-training quantization, {len(samples)} seeded "
                   "calibration batches" + (", transformer preset" if "model_type" in kwargs else ""))

    threads = _threads(cfg)
    precision = _openvino_precision(cfg, core, emit)
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": precision}
    if _get(cfg, "channelsLast", False):
        _log(emit, "OpenVINO: channelsLast has no effect (it chooses its own layouts)")

    emit("phase", phase="compile")
    try:
        compiled = core.compile_model(ov_model, "CPU", config)
    except Exception as err:
        raise ProbeError(
            "session-failed",
            f"OpenVINO could not compile the model for the CPU ({_short(err)})",
            "pip install --upgrade openvino",
        ) from None
    _log(emit, f"OpenVINO {ov.__version__}: CPU, {threads} threads, PERFORMANCE_HINT=LATENCY "
               "(one stream: the probe sends one request at a time)")
    request = compiled.create_infer_request()

    def run(x: Any) -> Any:
        request.infer(feeds(x), share_inputs=True)
        out = request.get_output_tensor(0).data
        return torch.from_numpy(np.array(out, dtype=np.float32, copy=True))

    guarded = _first_call_guard(run, "OpenVINO")
    guarded.compiled_model = compiled  # type: ignore[attr-defined]
    return guarded
