"""What the backends share: their options mapping, calibration inputs, layouts, inductor guards."""
from __future__ import annotations

import re
from typing import Any, List, Mapping, Optional, Tuple

import torch

from .base import BackendError, Log, _cpu_features, _is_arm64, _opt
from .inputs import _map_tensors, named_tensors

# ---------------------------------------------------------------- backends
#
# prepare_int8, prepare_onnxruntime and prepare_openvino are what graviton-tune's probe
# measures with (through optimize(); the tests' backend_adapter calls them one at a time), so
# what was measured is what optimize() serves. Each takes a plain options mapping, the
# keys of settings() (missing ones take their defaults) plus "seed":
#     threads         intra-op threads (default: torch.get_num_threads())
#     autocast        "bf16" or none;  fp32_precision  "bf16" or none
#     quantization    "int8" or none;  channels_last   bool
#     seed            int, seeds the calibration batches (default 0)
#     calibration     optional list of real inputs (tensors, or tuples of them) to
#                     calibrate int8 on, instead of the example plus seeded batches
#     cache_dir       optional folder where OpenVINO keeps the converted (and quantized)
#                     model, keyed by all it depends on, to read it back next time
# and two optional callbacks: log(message, level="info"|"warning") for every choice worth
# knowing, phase(name) when a stage begins ("export", "quantize", "compile").

# Lowest torch for the int8 route: torch.export with pre-dispatch graphs and inductor's
# oneDNN int8 lowerings (the PT2E tutorials start at 2.5 for the x86 path).
MIN_TORCH_INT8 = (2, 5)
CALIBRATION_BATCHES = 4


def _threads(options: Optional[Mapping[str, Any]]) -> int:
    value = _opt(options, "threads")
    if isinstance(value, int) and value > 0:
        return value
    return max(1, torch.get_num_threads())


def _bf16_requested(options: Optional[Mapping[str, Any]]) -> bool:
    return _opt(options, "autocast") == "bf16" or _opt(options, "fp32_precision") == "bf16"


def _int8_requested(options: Optional[Mapping[str, Any]]) -> bool:
    return _opt(options, "quantization") == "int8"


def _first_tensor(out: Any) -> Any:
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


def _seeded_like(example: Any, gen: "torch.Generator") -> Any:
    """A seeded input like `example`. Float: standard normal. Integer (token ids): uniform in
    [0, max(example)]; a constant integer tensor (an attention mask of ones) stays as it is."""
    if not isinstance(example, torch.Tensor):
        return example
    if example.is_floating_point():
        return torch.randn(example.shape, generator=gen, dtype=torch.float32).to(example.dtype)
    if example.numel() == 0 or bool((example == example.flatten()[0]).all()):
        return example.clone()
    high = max(int(example.max().item()) + 1, 2)
    return torch.randint(0, high, tuple(example.shape), generator=gen, dtype=example.dtype)


def _calibration_inputs(example: Any, count: int, seed: int) -> List[Any]:
    """The example itself plus `count` seeded inputs of the same shape and dtype.

    `example` is in any input form (see split_inputs); the samples take the same form.
    The seeded inputs only stand in for real data: see `calibration`.
    """
    gen = torch.Generator().manual_seed(int(seed) + 1234)
    out = [example]
    for _ in range(count):
        out.append(_map_tensors(example, lambda a: _seeded_like(a, gen)))
    return out


def _calibration_samples(example: Any, options: Optional[Mapping[str, Any]]) -> List[Any]:
    given = _opt(options, "calibration")
    if given is not None:
        samples = list(given)
        if not samples:
            raise BackendError("quantize-failed", "the calibration data is empty",
                               "pass a few real input batches, or none to calibrate on seeded ones")
        return samples
    return _calibration_inputs(example, CALIBRATION_BATCHES, int(_opt(options, "seed", 0)))


def _calibration_label(options: Optional[Mapping[str, Any]], count: int) -> str:
    return (f"{count} given calibration batches" if _opt(options, "calibration") is not None
            else f"{count} seeded calibration batches")


def _torch_version() -> Tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _one_or_many(example: Any, backend: str) -> Any:
    """The example as the ONNX and OpenVINO routes take it: one tensor stays a tensor (a
    one-element tuple becomes it); a tuple or dict of several tensors stays as it is."""
    if isinstance(example, (list, tuple)) and len(example) == 1:
        example = example[0]
    try:
        tensors = named_tensors(example)
    except TypeError:
        tensors = []
    if not tensors or not all(isinstance(t, torch.Tensor) for _, t in tensors):
        raise BackendError(
            "onnx-inputs",
            f"{backend} needs an example input of tensors (a tensor, a tuple or a dict of tensors); "
            f"the example is {type(example).__name__}",
            "pass example_input as the model takes it, e.g. optimize(model, tokenizer(..., return_tensors='pt'))",
        )
    return example


def _guard_inductor(say: Log) -> None:
    """Inductor settings that avoid known Arm hazards (called before every compile).

    With SVE (Graviton3/4) GCC 12 (Debian 12, Ubuntu 22.04) crashed with an internal
    compiler error while building inductor's precompiled header for the SVE 256 kernels;
    without the precompiled header the same kernels compile. Only compile time changes.
    """
    if not (_is_arm64() and "sve" in _cpu_features()):
        return
    import torch._inductor.config as inductor_config

    if getattr(inductor_config, "cpp_cache_precompile_headers", False):
        inductor_config.cpp_cache_precompile_headers = False
        say("torch.compile: inductor's precompiled header is off on this SVE CPU "
            "(GCC 12 crashes building it for SVE; only compile time changes)")


def _is_image(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 4 and value.is_floating_point()


def _images_channels_last(inputs: Any) -> Any:
    """The input in the same form, its 4-D float tensors (images) in channels_last."""
    return _map_tensors(inputs, lambda a: a.contiguous(memory_format=torch.channels_last) if _is_image(a) else a)
