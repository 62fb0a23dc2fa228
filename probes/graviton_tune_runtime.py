"""graviton-tune runtime helper: apply the measured model-level choices in your code.

graviton-tune writes the winning configuration to graviton-tune.env. The process-level
part (LD_PRELOAD, OMP_*, DNNL_*, THP_MEM_ALLOC_ENABLE …) takes effect when the env file
is loaded before Python starts (launch.sh, systemd EnvironmentFile=, docker --env-file).
The model-level part travels as GT_* variables, which this module applies:

    from graviton_tune_runtime import optimize
    model = optimize(model, example_input)
    output = model(batch)

Under torchrun (GT_WORKERS > 1) each worker pins itself to its own CPUs when this module
is imported; import it before torch so that OpenMP sees the pinned set when it loads.
Feed batches of batch_size() samples (GT_BATCH_SIZE): that is the size that was measured.

Variables (all optional; unset means the plain fp32 eager default):
    GT_BATCH_SIZE          int, the measured batch size (read with batch_size())
    GT_CHANNELS_LAST       0/1, NHWC memory format for the model and 4-D inputs
    GT_AUTOCAST            bf16|none, torch.autocast("cpu", bfloat16) around calls
    GT_FP32_PRECISION      bf16|none, oneDNN fp32 matmul/conv computed in bf16
    GT_COMPILE             0/1, torch.compile (inductor) with freezing and weight prepack
    GT_QUANTIZATION        int8|none, PT2E int8 through torchao (needs example_input)
    GT_BACKEND             torch|onnxruntime|openvino (only torch is served by this helper)
    GT_WORKERS             processes under torchrun; with LOCAL_RANK set, each is pinned
    GT_THREADS_PER_WORKER  threads per process (OMP_NUM_THREADS wins when set)
    GT_CPU_LIST            CPUs the workers share, e.g. 0-7 (default: this process's affinity)

Only torch is needed (torchao for int8). Outputs under bf16 autocast come back in
bfloat16; call .float() on them if the rest of your code expects float32.
"""
from __future__ import annotations

import os
import platform
from typing import Any, Callable, Dict, List, Mapping, Optional

__all__ = ["optimize", "batch_size", "settings", "pin_worker", "OptimizedModel", "ConfigError"]


class ConfigError(ValueError):
    """A GT_* variable with a value this helper does not understand."""


# ---------------------------------------------------------------- reading GT_*


def _env(environ: Mapping[str, str], key: str) -> Optional[str]:
    value = environ.get(key)
    return value.strip() if value is not None and value.strip() != "" else None


def _flag(environ: Mapping[str, str], key: str) -> bool:
    value = _env(environ, key)
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}={value!r}: expected 0 or 1")


def _choice(environ: Mapping[str, str], key: str, allowed: tuple, default: str) -> str:
    value = (_env(environ, key) or default).lower()
    if value not in allowed:
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _int(environ: Mapping[str, str], key: str, default: Optional[int]) -> Optional[int]:
    value = _env(environ, key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r}: expected a whole number") from None
    if number < 1:
        raise ConfigError(f"{key}={value!r}: expected 1 or more")
    return number


def _cpu_list(text: Optional[str]) -> Optional[List[int]]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11] (the kernel's cpu-list spelling)."""
    if text is None:
        return None
    cpus: List[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                low, high = part.split("-", 1)
                cpus.extend(range(int(low), int(high) + 1))
            elif part:
                cpus.append(int(part))
    except ValueError:
        raise ConfigError(f"GT_CPU_LIST={text!r}: expected a cpu list such as 0-3,8-11") from None
    return sorted(set(cpus))


def _omp_threads(environ: Mapping[str, str]) -> Optional[int]:
    """OMP_NUM_THREADS may be a nested list ("4,2"): the outer level is the pool size."""
    value = _env(environ, "OMP_NUM_THREADS")
    try:
        return max(1, int(value.split(",")[0])) if value else None
    except ValueError:
        return None


def settings(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The GT_* choices as Python values (validated; ConfigError on nonsense)."""
    env = os.environ if environ is None else environ
    threads = _omp_threads(env) or _int(env, "GT_THREADS_PER_WORKER", None)
    return {
        "batch_size": _int(env, "GT_BATCH_SIZE", 1),
        "channels_last": _flag(env, "GT_CHANNELS_LAST"),
        "autocast": _choice(env, "GT_AUTOCAST", ("none", "bf16"), "none"),
        "fp32_precision": _choice(env, "GT_FP32_PRECISION", ("none", "bf16"), "none"),
        "compile": _flag(env, "GT_COMPILE"),
        "quantization": _choice(env, "GT_QUANTIZATION", ("none", "int8"), "none"),
        "backend": _choice(env, "GT_BACKEND", ("torch", "onnxruntime", "openvino"), "torch"),
        "workers": _int(env, "GT_WORKERS", 1),
        "threads": threads,
        "cpu_list": _cpu_list(_env(env, "GT_CPU_LIST")),
    }


def batch_size(environ: Optional[Mapping[str, str]] = None) -> int:
    """GT_BATCH_SIZE: the batch size the winner was measured with (1 when unset)."""
    return settings(environ)["batch_size"]


# ---------------------------------------------------------------- process-level


def pin_worker(environ: Optional[Mapping[str, str]] = None) -> Optional[List[int]]:
    """Under torchrun with GT_WORKERS > 1, pin this worker to its own slice of CPUs.

    As the probe measured it: worker r gets the r-th equal contiguous slice of
    GT_CPU_LIST (default: the CPUs this process could use when this module was
    imported). Every existing thread is pinned, not only the caller, since the
    OpenMP pool may already be running. Returns the CPUs, or None when not pinned.
    """
    env = os.environ if environ is None else environ
    cfg = settings(env)
    rank = env.get("LOCAL_RANK")
    if cfg["workers"] <= 1 or rank is None or _IMPORT_AFFINITY is None:
        return None
    pool = cfg["cpu_list"] or _IMPORT_AFFINITY
    per_worker = len(pool) // cfg["workers"]
    mine = pool[int(rank) * per_worker:(int(rank) + 1) * per_worker]
    if per_worker == 0 or not mine:
        return None  # fewer CPUs than workers: leave placement to the OS
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        try:
            os.sched_setaffinity(tid, mine)
        except OSError:
            pass  # a thread that ended meanwhile
    return mine


# Captured before any pinning, so pinning again (optimize() after import) takes the same slice.
_IMPORT_AFFINITY: Optional[List[int]] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else None

# Pin before torch loads: the OpenMP runtime computes its places (OMP_PLACES) from the
# affinity it sees at load time. Import this module before torch for that to hold.
try:
    pin_worker()
except (ConfigError, ValueError):
    pass  # optimize() reports bad GT_* values with a clear error

import torch  # noqa: E402


def _apply_process_settings(cfg: Dict[str, Any]) -> None:
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    if cfg["fp32_precision"] == "bf16":
        # The x86 route to bf16 math for an fp32 model (oneDNN matmul and conv).
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        torch.backends.mkldnn.conv.fp32_precision = "bf16"


# ---------------------------------------------------------------- the model


def _to_channels_last(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() == 4:
        return value.contiguous(memory_format=torch.channels_last)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_channels_last(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_channels_last(v) for k, v in value.items()}
    return value


def _as_args(example_input: Any) -> tuple:
    return tuple(example_input) if isinstance(example_input, (list, tuple)) else (example_input,)


class _Forward(torch.nn.Module):
    """What runs per call: inputs in the chosen layout, under autocast when chosen."""

    def __init__(self, model: Callable, channels_last: bool, autocast: bool):
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.autocast = autocast

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.channels_last:
            args = _to_channels_last(args)
            kwargs = _to_channels_last(kwargs)
        if self.autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.model(*args, **kwargs)
        return self.model(*args, **kwargs)


class OptimizedModel:
    """The optimized model: call it like the original one. Gradients are off."""

    def __init__(self, forward: Callable, module: torch.nn.Module, cfg: Dict[str, Any], compiled: bool):
        self._forward = forward
        self.module = module
        self.settings = cfg
        self.compiled = compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Compiled (frozen) graphs run under no_grad, as inductor's freezing expects;
        # eager runs under inference_mode, which is cheaper still.
        context = torch.no_grad() if self.compiled else torch.inference_mode()
        with context:
            return self._forward(*args, **kwargs)

    def __repr__(self) -> str:
        defaults = {"channels_last": False, "autocast": "none", "fp32_precision": "none", "compile": False,
                    "quantization": "none", "backend": "torch"}
        chosen = {k: v for k, v in self.settings.items() if k in defaults and v != defaults[k]}
        return f"OptimizedModel({type(self.module).__name__}, {chosen})"


def _quantize_int8(model: torch.nn.Module, example_args: tuple) -> torch.nn.Module:
    """PT2E int8: export, annotate with this CPU's inductor quantizer, calibrate once, convert."""
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError as error:
        raise RuntimeError(
            "GT_QUANTIZATION=int8 needs torchao (pip install torchao), which is not importable here: "
            f"{error}"
        ) from None
    if platform.machine() in ("aarch64", "arm64"):
        from torchao.quantization.pt2e.quantizer import arm_inductor_quantizer as q

        quantizer = q.ArmInductorQuantizer().set_global(q.get_default_arm_inductor_quantization_config())
    else:
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as q

        quantizer = q.X86InductorQuantizer().set_global(q.get_default_x86_inductor_quantization_config())
    exported = torch.export.export(model, example_args).module()
    prepared = prepare_pt2e(exported, quantizer)
    # One calibration pass on the example: the same as the measured probe. For real
    # accuracy, calibrate on representative data yourself before serving.
    with torch.no_grad():
        prepared(*example_args)
    return convert_pt2e(prepared)


def _compile(forward: torch.nn.Module) -> Callable:
    import torch._inductor.config as inductor_config

    # Freezing folds weights into constants so weight prepacking can happen once.
    inductor_config.freezing = True
    inductor_config.cpp.weight_prepack = True
    return torch.compile(forward, backend="inductor")


def optimize(model: Callable, example_input: Any = None, environ: Optional[Mapping[str, str]] = None) -> OptimizedModel:
    """Apply the GT_* choices to `model` and return a callable that runs it that way.

    `example_input` is one batch like the real ones (a tensor, or a tuple of the
    model's positional arguments). int8 needs it; with torch.compile it is used to
    warm up, so the first real request does not pay for compilation.
    """
    env = os.environ if environ is None else environ
    cfg = settings(env)
    if cfg["backend"] != "torch":
        raise RuntimeError(
            f"GT_BACKEND={cfg['backend']}: the winner runs on {cfg['backend']}, which needs its own serving code "
            "(export the model with torch.onnx.export and run it in an onnxruntime InferenceSession, or convert it "
            "with openvino.convert_model); this helper only serves PyTorch models. See report.md for the settings measured."
        )
    pin_worker(env)
    _apply_process_settings(cfg)
    if isinstance(model, torch.nn.Module):
        model.eval()
        if cfg["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
    example_args = None if example_input is None else _as_args(example_input)
    module = model
    if cfg["quantization"] == "int8":
        if example_args is None:
            raise ValueError("GT_QUANTIZATION=int8 needs example_input: optimize(model, example_input)")
        # Exported as it will be called: _Forward hands it channels_last inputs when chosen.
        model = _quantize_int8(model, _to_channels_last(example_args) if cfg["channels_last"] else example_args)
    forward = _Forward(model, cfg["channels_last"], cfg["autocast"] == "bf16")
    # int8 through PT2E is only fast once inductor lowers its quantize/dequantize pairs.
    compiled = cfg["compile"] or cfg["quantization"] == "int8"
    runner = OptimizedModel(_compile(forward) if compiled else forward, module, cfg, compiled)
    if compiled and example_args is not None:
        # Compile now, not on the first request; with the caller's own layout, so
        # the guards match the real calls (the layout change happens inside).
        runner(*example_args)
    return runner
