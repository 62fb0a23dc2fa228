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
