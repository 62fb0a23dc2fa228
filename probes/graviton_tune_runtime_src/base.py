"""Errors, package hints, logging hooks and CPU facts: what every other part uses (no torch)."""
from __future__ import annotations

import importlib
import logging
import platform
from typing import Any, Callable, Mapping, Optional, Tuple


class ConfigError(ValueError):
    """A GT_* variable with a value this helper does not understand, or CPUs it cannot pin to.

    .code: "bad-config" (a value), "too-few-cpus" or "bad-cpu-list" (pinning); .hint: the fix.
    """

    def __init__(self, message: str, code: str = "bad-config", hint: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class BackendError(RuntimeError):
    """Preparing or first running a backend failed: a stable .code, a .message and a .hint.

    Codes (graviton-tune's probe reports the same ones):
    missing-package     a needed Python package is not importable (hint: the pip command)
    torch-too-old       torch too old for torch.export / PT2E int8
    int8-unsupported    no PT2E quantizer for this CPU architecture
    compiler-missing    inductor (int8 path) needs a C++ compiler and none works
    export-failed       torch.export / ONNX export / OpenVINO conversion failed
    quantize-failed     calibration or quantization failed
    compile-failed      the first int8 call (inductor compilation) failed
    model-not-found     the .onnx path does not exist
    session-failed      ONNX Runtime could not load the model / OpenVINO could not compile it
    onnx-inputs         the ONNX model has inputs that cannot be filled automatically
    bf16-unsupported    bf16 was asked of OpenVINO on a CPU without bf16
    inference-failed    the first inference call of ONNX Runtime / OpenVINO failed
    """

    def __init__(self, code: str, message: str, hint: Optional[str] = None):
        super().__init__(message if hint is None else f"{message} (hint: {hint})")
        self.code = code
        self.message = message
        self.hint = hint


PIP_TORCHAO = "pip install torchao"
PIP_ORT = "pip install onnxruntime onnx onnxscript"
PIP_OPENVINO = "pip install openvino"
PIP_NNCF = "pip install nncf"

Log = Callable[..., None]
Phase = Callable[[str], None]

_logger = logging.getLogger("graviton_tune_runtime")


def _hooks(log: Optional[Log], phase: Optional[Phase]) -> Tuple[Log, Phase]:
    def say(message: str, level: str = "info") -> None:
        if log is not None:
            log(message, level=level)

    def step(name: str) -> None:
        if phase is not None:
            phase(name)

    return say, step


def _opt(options: Optional[Mapping[str, Any]], key: str, default: Any = None) -> Any:
    if options is None:
        return default
    value = options.get(key, default)
    return default if value is None else value


def _short(err: BaseException, limit: int = 400) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    text = text.splitlines()[0] if "\n" in text and len(text) > limit else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require(module: str, hint: str, what: Optional[str] = None) -> Any:
    """Import `module` or raise missing-package with the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendError(
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
