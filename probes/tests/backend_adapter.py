"""The backends beyond plain eager/compiled PyTorch: int8 (PT2E), ONNX Runtime, OpenVINO.

Public functions (each returns a callable that takes the model's inputs
as the example does (a tensor, positional tensors, or keyword tensors) and returns the
model's first output as a torch float32 tensor):

    prepare_int8(model, example_input, cfg, emit)
    prepare_onnxruntime(model_or_path, example_input, cfg, emit)
    prepare_openvino(model_or_path, example_input, cfg, emit)

`cfg` is a plain dict with the camelCase keys of source/core/types.ts' ProbeConfig. `emit` is protocol.emit.
Preparation emits `phase` events (export, quantize, compile) and `log` events for every
choice worth knowing. Compilation that happens lazily (torch.compile in the int8 path)
lands in the caller's first calls, that is its warm-up.

This module is only an adapter, for calling one backend alone with a configuration (the
tests in test_backends_extra.py do; it lives with them and does not ship). The probe itself measures through the runtime helper's optimize() (run.py),
which calls the same implementations: prepare_int8, prepare_onnxruntime, prepare_openvino
in graviton_tune_runtime.py, the helper users deploy next to graviton-tune.env. Read the
routes, and why, in those functions' docstrings. Here: the configuration becomes the
runtime's options mapping (through the GT_* variables graviton-tune launches a probe with,
conftest.launched, and the helper's settings(), as optimize() reads them), its log/phase callbacks become protocol events, and its
BackendError (also when a returned callable fails on its first call) becomes ProbeError
with the same code, message and hint.

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

from typing import Any, Callable, Dict, List, Optional

import graviton_tune_runtime as rt
from graviton_tune_runtime import BackendError

from conftest import launched
from graviton_tune_probe.protocol import ProbeError

# Re-exported for readers of this module; the values live in the runtime helper.
MIN_TORCH_INT8 = rt.MIN_TORCH_INT8
CALIBRATION_BATCHES = rt.CALIBRATION_BATCHES
PIP_TORCHAO = rt.PIP_TORCHAO
PIP_ORT = rt.PIP_ORT
PIP_OPENVINO = rt.PIP_OPENVINO
PIP_NNCF = rt.PIP_NNCF

Emit = Callable[..., None]


def _options(cfg: Any) -> Dict[str, Any]:
    """A configuration (a dict with the camelCase keys of source/core/types.ts) as the
    runtime's options mapping: the helper's settings() of the GT_* variables graviton-tune
    would launch it with, plus the seed."""
    probe_json, env = launched(dict(cfg or {}))
    options = rt.settings(env)
    options["seed"] = probe_json.get("seed", 0)
    return options


def _threads(cfg: Any) -> int:
    return rt._threads(_options(cfg))


def _bf16_requested(cfg: Any) -> bool:
    return rt._bf16_requested(_options(cfg))


def _probe_error(err: BackendError) -> ProbeError:
    return ProbeError(err.code, err.message, err.hint)


def _hooks(emit: Emit) -> Dict[str, Callable[..., None]]:
    def log(message: str, level: str = "info") -> None:
        emit("log", level=level, message=message)

    def phase(name: str) -> None:
        emit("phase", phase=name)

    return {"log": log, "phase": phase}


class _Runner:
    """The runtime's callable, with its BackendError (first call) turned into ProbeError.

    `pick` turns the output into the probe's float32 tensor (int8 returns the model's own
    output). Attributes (ONNX Runtime's .session, OpenVINO's .compiled_model) pass through.
    """

    def __init__(self, inner: Callable[[Any], Any], pick: Callable[[Any], Any] = None):
        self._inner = inner
        self._pick = pick

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            out = self._inner(*args, **kwargs)
        except BackendError as err:
            raise _probe_error(err) from None
        return out if self._pick is None else self._pick(out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _prepare(fn: Callable[..., Any], model: Any, example_input: Any, cfg: Any, emit: Emit,
             calibration: Optional[List[Any]] = None) -> Callable[..., Any]:
    options = _options(cfg)
    if calibration:
        options["calibration"] = calibration
    try:
        return fn(model, example_input, options, **_hooks(emit))
    except BackendError as err:
        raise _probe_error(err) from None


def _first_float(out: Any) -> Any:
    return rt._first_tensor(out).float()


def prepare_int8(model: Any, example_input: Any, cfg: Any, emit: Emit,
                 calibration: Optional[List[Any]] = None) -> Callable[[Any], Any]:
    """int8 via PT2E + inductor. The compile happens on the first calls (the warm-up).
    `calibration`: real input batches (--samples) instead of the seeded ones."""
    return _Runner(_prepare(rt.prepare_int8, model, example_input, cfg, emit, calibration), _first_float)


def prepare_onnxruntime(model_or_path: Any, example_input: Any, cfg: Any, emit: Emit,
                        calibration: Optional[List[Any]] = None) -> Callable[[Any], Any]:
    """ONNX Runtime on the CPU execution provider. Accepts an nn.Module or an .onnx path."""
    return _Runner(_prepare(rt.prepare_onnxruntime, model_or_path, example_input, cfg, emit, calibration))


def prepare_openvino(model_or_path: Any, example_input: Any, cfg: Any, emit: Emit,
                     calibration: Optional[List[Any]] = None) -> Callable[[Any], Any]:
    """OpenVINO on "CPU". Accepts an nn.Module or a model file OpenVINO reads (.onnx, .xml)."""
    return _Runner(_prepare(rt.prepare_openvino, model_or_path, example_input, cfg, emit, calibration))
