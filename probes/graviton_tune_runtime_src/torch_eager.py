"""PyTorch eager: the model in the chosen memory format, under bf16 autocast when chosen,
and OptimizedModel, the callable every backend is served through."""
from __future__ import annotations

from typing import Any, Callable, Dict

import torch

from .base import BackendError
from .common import _images_channels_last


class _Forward(torch.nn.Module):
    """What runs per call: image inputs (4-D float tensors) in channels_last when chosen,
    under bf16 autocast when chosen. torch.compile compiles this wrapper, so the layout
    change and autocast are part of the compiled graph.

    An input already in channels_last passes through untouched (contiguous() on a tensor
    in the requested format is a no-op): an app whose data path produces channels_last
    batches (prepare_input) saves the conversion; one that does not pays it on every
    call, and so did the measurement."""

    def __init__(self, model: Callable, channels_last: bool, autocast: bool):
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.autocast = autocast

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.channels_last:
            args, kwargs = _images_channels_last(args), _images_channels_last(kwargs)
        if self.autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.model(*args, **kwargs)
        return self.model(*args, **kwargs)


def eager(model: Any, cfg: Dict[str, Any]) -> _Forward:
    """The eager model as chosen: channels_last weights and inputs, bf16 autocast."""
    if cfg["channels_last"] and isinstance(model, torch.nn.Module):
        model = model.to(memory_format=torch.channels_last)
    return _Forward(model, cfg["channels_last"], cfg["autocast"] == "bf16")


class OptimizedModel:
    """The optimized model: call it like the original one. Gradients are off.

    Each call runs in the grad mode its backend was measured in: compiled graphs (torch.compile,
    int8) under no_grad, as inductor's freezing expects; eager under inference_mode, which is
    cheaper still; ONNX Runtime and OpenVINO without autograd at all. graviton-tune's probe
    times calls of this object, so these choices are the measured ones."""

    def __init__(self, forward: Callable, module: Any, cfg: Dict[str, Any], compiled: bool, generation: bool = False):
        self._forward = forward
        # The module's own step compiled for generate() (compile_generation): generate() runs compiled.
        self.generation = generation
        self.runner = forward  # what each call runs (ONNX Runtime: .session; OpenVINO: .compiled_model)
        self.module = module
        self.settings = cfg
        self.compiled = compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.settings.get("backend", "torch") != "torch":
            return self._forward(*args, **kwargs)
        context = torch.no_grad() if self.compiled else torch.inference_mode()
        with context:
            return self._forward(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """The module's own generate() (a Hugging Face language model), run as measured: in the
        grad mode and under the bf16 autocast of this configuration (fp32 math in bf16 and the
        threads are set for the process already). graviton-tune measured generation greedy,
        with greedy_settings(model, new_tokens); pass your own settings the same way."""
        generate = getattr(self.module, "generate", None)
        if not callable(generate):
            raise TypeError(f"{type(self.module).__name__} has no generate(): call the model instead")
        if self.settings.get("backend", "torch") != "torch" or (self.compiled and not self.generation):
            chosen = "compile" if self.compiled else self.settings.get("backend")
            raise BackendError("generate-unsupported", f"generation is served on PyTorch eager only, not with {chosen}",
                               "unset GT_COMPILE / GT_QUANTIZATION / GT_BACKEND for a generating model")
        # Compiled with freezing: no_grad, as inductor's freezing expects; eager: inference_mode.
        with torch.no_grad() if self.compiled else torch.inference_mode():
            if self.settings.get("autocast") == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return generate(*args, **kwargs)
            return generate(*args, **kwargs)

    def prepare_input(self, inputs: Any) -> Any:
        """The input in the layout this model computes in (channels_last images when chosen):
        for an app's data path that can convert once, e.g. while batching. Calling the model
        with the original layout gives the same result, converting on every call."""
        if self.settings.get("channels_last") and self.settings.get("backend", "torch") == "torch":
            return _images_channels_last(inputs)
        return inputs

    def __repr__(self) -> str:
        defaults = {"channels_last": False, "autocast": "none", "fp32_precision": "none", "compile": False,
                    "quantization": "none", "weight_quantization": "none", "backend": "torch"}
        chosen = {k: v for k, v in self.settings.items() if k in defaults and v != defaults[k]}
        return f"OptimizedModel({type(self.module).__name__}, {chosen})"
