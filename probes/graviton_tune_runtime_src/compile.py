"""torch.compile (inductor) with freezing and weight prepacking."""
from __future__ import annotations

from typing import Any, Callable

import torch

from .base import BackendError, Log, _short
from .common import _guard_inductor


def compile_model(forward: torch.nn.Module, say: Log) -> Callable:
    """inductor with freezing (weights folded into constants) and weight prepacking (done once)."""
    import torch._inductor.config as inductor_config

    _guard_inductor(say)
    inductor_config.freezing = True
    inductor_config.cpp.weight_prepack = True
    return torch.compile(forward, backend="inductor")


def compile_generation(model: Any, say: Log) -> Any:
    """A language model's step compiled for generate(): a static KV cache (its tensors keep one
    shape from step to step, so one compiled graph serves every decode step) and the model's
    forward compiled by inductor with freezing and weight prepacking. generate() then calls the
    compiled forward for the prefill and each decode step; the first call compiles (tens of
    seconds), and so does a new batch size or length (prompt + new tokens)."""
    import torch._inductor.config as inductor_config

    _guard_inductor(say)
    inductor_config.freezing = True
    inductor_config.cpp.weight_prepack = True
    model.generation_config.cache_implementation = "static"
    model.forward = torch.compile(model.forward, backend="inductor", dynamic=False)
    say("generate(): a static KV cache and the forward compiled by inductor (freezing, weight prepack); "
        "the first call of each batch size and length compiles")
    return model


def first_compiled_call(call: Callable[[], Any]) -> Any:
    """The first call of a compiled model, where inductor compiles: its failure as BackendError."""
    try:
        return call()
    except BackendError:
        raise
    except MemoryError:
        raise
    except Exception as err:
        raise BackendError(
            "compile-failed",
            f"compiling the model failed: {_short(err)}",
            "this configuration does not work for this model; TORCH_LOGS=+inductor shows the details",
        ) from None
