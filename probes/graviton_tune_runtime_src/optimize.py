"""optimize(): the GT_* choices applied to a model, through the backend they name."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Iterable, Mapping, Optional

import torch

from .base import Log, Phase, _hooks
from .common import _images_channels_last, _is_image
from .compile import compile_generation, compile_model, first_compiled_call
from .generation import can_generate
from .inputs import call_model, named_tensors
from .onnxruntime_backend import prepare_onnxruntime
from .openvino_backend import prepare_openvino
from .pinning import pin_worker
from .pt2e import prepare_int8
from .settings import settings
from .torch_eager import OptimizedModel, eager
from .weights import quantize_weights

_logger = logging.getLogger("graviton_tune_runtime")


def _apply_process_settings(cfg: Dict[str, Any]) -> None:
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    if cfg["fp32_precision"] == "bf16":
        # The x86 route to bf16 math for an fp32 model (oneDNN matmul and conv).
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        torch.backends.mkldnn.conv.fp32_precision = "bf16"


def _log_to_logging(message: str, level: str = "info") -> None:
    _logger.log(logging.WARNING if level == "warning" else logging.INFO, message)


def optimize(model: Any, example_input: Any = None, environ: Optional[Mapping[str, str]] = None,
             calibration_data: Optional[Iterable[Any]] = None, *, log: Optional[Log] = None,
             phase: Optional[Phase] = None, cache_dir: Optional[str] = None) -> OptimizedModel:
    """Apply the GT_* choices to `model` and return a callable that runs it that way.

    `example_input` is one batch like the real ones, in the form the model takes: a
    tensor, a tuple of the model's positional arguments, or a dict of its keyword
    arguments (a tokenizer's output, return_tensors="pt"). int8, onnxruntime and openvino need it (to export and
    calibrate; OpenVINO and int8 keep its shape); with torch.compile it is used to warm
    up, so the first real request does not pay for compilation. For onnxruntime and
    openvino, `model` may also be a model file path (.onnx; .xml for OpenVINO).

    `calibration_data`: for int8, real input batches (like example_input) to calibrate
    on instead of the seeded random ones graviton-tune measured with: same speed, better
    accuracy. Choices are logged to the "graviton_tune_runtime" logger (or given to
    `log(message, level=...)`), and `phase(name)` is told when a stage begins (export,
    quantize, compile); failures raise BackendError (.code, .hint) or ConfigError.

    `cache_dir`: for openvino, a folder to keep the converted (and quantized) model in, so
    that the next start with the same model, input shapes and settings reads it back
    instead of converting and quantizing again (keyed by all of these; safe to share).

    graviton-tune's probe measures by calling this function and then timing calls of
    what it returns, so this is the code path that was measured.
    """
    env = os.environ if environ is None else environ
    cfg = settings(env)
    pin_worker(env)
    say, step = _hooks(log or _log_to_logging, phase)
    backend = cfg["backend"]
    _apply_process_settings(cfg if backend == "torch" else {**cfg, "fp32_precision": "none"})
    options: Dict[str, Any] = {**cfg, "seed": 0}
    if cache_dir:
        options["cache_dir"] = cache_dir
    if calibration_data is not None:
        options["calibration"] = list(calibration_data)

    if backend != "torch":
        if example_input is None:
            raise ValueError(f"GT_BACKEND={backend} needs example_input: optimize(model, example_input)")
        prepare = prepare_onnxruntime if backend == "onnxruntime" else prepare_openvino
        runner = prepare(model, example_input, options, log=say, phase=step)
        optimized = OptimizedModel(runner, model, cfg, compiled=False)
        call_model(optimized, example_input)  # the first call: errors surface here, not on a request
        return optimized

    if isinstance(model, torch.nn.Module):
        try:
            model.eval()
        except NotImplementedError:
            pass  # a torch.export module: already in inference form, and it refuses eval()
    if cfg["quantization"] == "int8":
        if example_input is None:
            raise ValueError("GT_QUANTIZATION=int8 needs example_input: optimize(model, example_input)")
        # As measured: PT2E int8, compiled by inductor on the first call; it applies
        # channels_last to the inputs and bf16 autocast (int8-mixed-bf16) itself.
        runner = prepare_int8(model, example_input, options, log=say, phase=step)
        optimized = OptimizedModel(runner, model, cfg, compiled=True)
        step("compile")
        call_model(optimized, example_input)  # compile now, not on the first request
        return optimized

    if cfg.get("weight_quantization", "none") != "none":
        # torchao on the Linear layers; the model stays an eager module (generate() as before).
        step("quantize")
        model = quantize_weights(model, cfg["weight_quantization"], say)
    if cfg["channels_last"] and not _has_image(example_input):
        say("channelsLast ignored: no input is a 4-D float tensor (an image)", "warning")
        cfg = {**cfg, "channels_last": False}
    compiled = cfg["compile"]
    if compiled and can_generate(model):
        # A language model: its step compiled for generate() (static KV cache), which also
        # serves a plain call; generate()'s first call compiles (its lengths fix the shapes).
        step("compile")
        model = compile_generation(model, say)
        return OptimizedModel(eager(model, cfg), model, cfg, compiled, generation=True)
    forward = eager(model, cfg)
    optimized = OptimizedModel(compile_model(forward, say) if compiled else forward, model, cfg, compiled)
    if compiled and example_input is not None:
        # Compile now, not on the first request; with the caller's own layout, so the
        # guards match the real calls (the layout change happens inside).
        step("compile")
        first_compiled_call(lambda: call_model(optimized, example_input))
    return optimized


def _has_image(example_input: Any) -> bool:
    if example_input is None:
        return True  # nothing to judge by
    try:
        return any(_is_image(t) for _, t in named_tensors(example_input))
    except TypeError:
        return True


def prepare_input(inputs: Any, environ: Optional[Mapping[str, str]] = None) -> Any:
    """The input in the layout the optimized model computes in (channels_last images when
    GT_CHANNELS_LAST=1 on torch), for an app's data path that can convert each batch once
    (OptimizedModel.prepare_input does the same)."""
    cfg = settings(environ)
    if cfg["channels_last"] and cfg["backend"] == "torch":
        return _images_channels_last(inputs)
    return inputs
