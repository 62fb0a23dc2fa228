"""ONNX Runtime on the CPU execution provider (export, int8, the session as measured)."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Mapping, Optional, Tuple

import torch

from .base import (
    PIP_ORT,
    BackendError,
    ConfigError,
    Log,
    Phase,
    _cpu_features,
    _cpu_has_bf16,
    _hooks,
    _is_arm64,
    _is_x86,
    _opt,
    _require,
    _short,
)
from .common import _bf16_requested, _calibration_samples, _int8_requested, _one_or_many, _threads
from .graphs import _export_onnx, _feeder, _first_call_guard, _onnx_has_conv, _onnx_input_info, _onnx_path
from .inputs import call_model

# ---- ONNX Runtime


def _ort_quantize(src: str, example: Any, options: Optional[Mapping[str, Any]], directory: str,
                  say: Log, step: Phase) -> str:
    """Static QDQ for graphs with convolutions, dynamic otherwise (ONNX Runtime's advice
    for CNNs and for transformers). Data types as onnxruntime.quantization.quantize_static
    advises: x86 U8S8 (reduce_range without VNNI), Arm S8S8."""
    from onnxruntime import quantization as oq

    step("quantize")
    dst = os.path.join(directory, "model.int8.onnx")
    try:
        has_conv = _onnx_has_conv(src)
        pre = os.path.join(directory, "model.pre.onnx")
        try:  # recommended before quantizing: shape inference + graph clean-up
            oq.quant_pre_process(src, pre, skip_symbolic_shape=has_conv,
                                 save_as_external_data=True)
        except Exception as err:
            say(f"quantization pre-processing skipped ({_short(err, 200)})", level="warning")
            pre = src

        if not has_conv:
            oq.quantize_dynamic(pre, dst, weight_type=oq.QuantType.QInt8,
                                use_external_data_format=True)
            say("ONNX Runtime int8: dynamic quantization (int8 weights, activations "
                "quantized on the fly): no convolutions in the graph")
            return dst

        inputs = _onnx_input_info(pre)
        feeds = _feeder(inputs, example, say)
        names = [name for name, _ in inputs]
        samples = [dict(zip(names, call_model(feeds, t))) for t in _calibration_samples(example, options)]

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
        which = "given" if _opt(options, "calibration") is not None else "seeded"
        say(f"ONNX Runtime int8: static QDQ quantization ({types}, per-channel weights, "
            f"MinMax calibration on {len(samples)} {which} batches): the graph has convolutions")
        return dst
    except BackendError:
        raise
    except Exception as err:
        raise BackendError(
            "quantize-failed",
            f"ONNX Runtime int8 quantization failed ({_short(err)})",
            "skip int8 for the ONNX Runtime backend for this model",
        ) from None



_ORT_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
_ORT_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}


def _ort_session_options(ort: Any, entries: Optional[Mapping[str, str]], threads: int) -> Tuple[Any, str]:
    """The SessionOptions as measured. entries None: the tuned session graviton-tune has
    always used for exported models (intra-op threads = threads, one inter-op thread,
    sequential, all graph optimisations). A mapping ({} = ONNX Runtime's defaults): a
    plain SessionOptions() with each entry applied on top (GT_ORT_OPTIONS)."""
    opts = ort.SessionOptions()
    if entries is None:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        return opts, f"{threads} intra-op threads, sequential, graph optimisation all"
    shown = []
    for key, value in entries.items():
        try:
            if key in ("intra_op_num_threads", "inter_op_num_threads"):
                setattr(opts, key, threads if value == "threads" else int(value))
            elif key == "execution_mode":
                opts.execution_mode = getattr(ort.ExecutionMode, _ORT_MODES[value])
            elif key == "graph_optimization_level":
                opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVELS[value])
            elif "." in key:
                opts.add_session_config_entry(key, value)
            else:
                raise KeyError(key)
        except (KeyError, ValueError):
            raise ConfigError(f"ONNX Runtime session option {key}={value}: not understood (keys: "
                              "intra_op_num_threads, inter_op_num_threads, execution_mode, "
                              "graph_optimization_level, or a config entry with a '.')") from None
        shown.append(f"{key}={threads if value == 'threads' else value}")
    return opts, ("ONNX Runtime's default session" + (" with " + ", ".join(shown) if shown else "")
                  + " (GT_ORT_OPTIONS)")


def prepare_onnxruntime(model_or_path: Any, example: Any, options: Optional[Mapping[str, Any]] = None,
                        log: Optional[Log] = None, phase: Optional[Phase] = None) -> Callable[[Any], Any]:
    """ONNX Runtime on the CPU execution provider, for an nn.Module or an .onnx path.

    Returns a callable: input tensor -> the model's first output as a float32 torch tensor
    (extra integer graph inputs such as attention_mask are filled: masks with ones, others
    with zeros). An nn.Module is exported first (see _export_onnx: the batch axis stays
    dynamic when the exporter allows it). options["quantization"] == "int8" quantizes the
    graph (see _ort_quantize). One session: intra-op threads = options["threads"], one
    inter-op thread, sequential execution, all graph optimisations. When bf16 is asked
    for (autocast or fp32_precision "bf16") on an aarch64 CPU with bf16 (Graviton3 and
    newer), bf16 GEMM fast math is on (mlas.enable_gemm_fastmath_arm64_bfloat16=1: lossy,
    check the outputs); plain fp32 stays fp32 (it was on for every session on such a CPU,
    found under Arm emulation: the fp32 onnxruntime step measured bf16 math). On x86
    there is no bf16 route for fp32 models, so bf16 options are logged as having no effect.
    The callable keeps the temporary files (.workdir) and the session (.session).
    """
    say, step = _hooks(log, phase)
    ort = _require("onnxruntime", PIP_ORT, "ONNX Runtime (onnxruntime)")
    import numpy as np

    example = _one_or_many(example, "ONNX Runtime")
    workdir = tempfile.TemporaryDirectory(prefix="graviton-tune-onnx-")
    path = _onnx_path(model_or_path)
    int8 = _int8_requested(options)
    if path is None or int8:
        _require("onnx", PIP_ORT)
    if path is None:
        step("export")
        path = _export_onnx(model_or_path, example, workdir.name, say)
    if int8:
        path = _ort_quantize(path, example, options, workdir.name, say, step)

    threads = _threads(options)
    session_options, described = _ort_session_options(ort, _opt(options, "ort_options"), threads)
    if _is_arm64() and _bf16_requested(options):
        if _cpu_has_bf16():
            session_options.add_session_config_entry("mlas.enable_gemm_fastmath_arm64_bfloat16", "1")
            say("ONNX Runtime: bf16 GEMM fast math on "
                "(mlas.enable_gemm_fastmath_arm64_bfloat16=1, this CPU has bf16)")
        else:
            say("ONNX Runtime: bf16 GEMM fast math off: this CPU has no bf16 "
                "(needs Graviton3 / Neoverse V1 or newer)", level="warning")
    elif _bf16_requested(options):
        say("ONNX Runtime: no bf16 route for fp32 models on this CPU; "
            "autocast/fp32Precision bf16 has no effect here", level="warning")
    if _opt(options, "channels_last", False):
        say("ONNX Runtime: channelsLast has no effect (it chooses its own layouts)")

    step("compile")
    try:
        session = ort.InferenceSession(path, session_options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise BackendError(
            "session-failed",
            f"ONNX Runtime could not load the model ({_short(err)})",
            "check the model with: python -m onnxruntime.tools.check_onnx_model_mobile_usability "
            "MODEL.onnx, or upgrade: pip install --upgrade onnxruntime",
        ) from None
    say(f"ONNX Runtime {ort.__version__}: CPUExecutionProvider, {described}")

    type_map = {"tensor(float)": "float32", "tensor(double)": "float64",
                "tensor(float16)": "float16", "tensor(int64)": "int64",
                "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(uint8)": "uint8",
                "tensor(int8)": "int8"}
    inputs = [(i.name, np.dtype(type_map.get(i.type, "float32"))) for i in session.get_inputs()]
    feeds = _feeder(inputs, example, say)
    names = [name for name, _ in inputs]
    output = session.get_outputs()[0].name

    current = {"session": session}

    def run(*args: Any, **kwargs: Any) -> Any:
        result = current["session"].run([output], dict(zip(names, feeds(*args, **kwargs))))[0]
        return torch.from_numpy(np.asarray(result)).float()

    def swap_session(other: Any) -> Any:
        """Run on another session of the same graph (a profiled one) until swapped back; returns the one it replaced."""
        replaced, current["session"] = current["session"], other
        return replaced

    guarded = _first_call_guard(run, "ONNX Runtime")
    guarded.workdir = workdir  # type: ignore[attr-defined]  # keep the files while in use
    guarded.session = session  # type: ignore[attr-defined]
    guarded.swap_session = swap_session  # type: ignore[attr-defined]
    return guarded
