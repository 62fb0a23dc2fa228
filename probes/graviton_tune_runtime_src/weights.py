"""Quantized weights (GT_WEIGHT_QUANTIZATION): torchao's quantize_() on the Linear layers.

A language model's decode step reads every weight once per token, so its speed follows
the bytes of the weights: int8 weights move a quarter of fp32's, int4 an eighth. The
model stays an eager PyTorch module (generate() works as before); only the Linear
layers' weights change:
    int8          Int8WeightOnlyConfig: int8 weights, one scale per output channel
    int8-dynamic  Int8DynamicActivationInt8WeightConfig: int8 weights and activations
                  quantized per token at run time (int8 matmuls)
    int4          IntxWeightOnlyConfig(int4): int4 weights in groups of 128, 64 or 32
                  inputs (the largest that divides every layer), else per channel
Whether any of them is faster depends on the kernels torchao has for this CPU and torch:
graviton-tune measures it, and the greedy-token check decides whether the answers hold.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from .base import PIP_TORCHAO, BackendError, Log, _short

WEIGHT_KINDS = ("int8", "int8-dynamic", "int4")
INT4_GROUPS = (128, 64, 32)


def _linears(model: Any) -> list:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def int4_group(model: Any) -> Optional[int]:
    """The largest group size that divides every Linear layer's inputs (None: per channel)."""
    sizes = {m.in_features for m in _linears(model)}
    return next((g for g in INT4_GROUPS if sizes and all(n % g == 0 for n in sizes)), None)


def quantize_weights(model: Any, kind: str, log: Log) -> Any:
    """The model with its Linear layers' weights quantized as `kind` (in place); BackendError
    when torchao is missing or refuses the model."""
    if kind not in WEIGHT_KINDS:
        raise BackendError("quantize-failed", f"unknown weight quantization {kind!r}",
                           f"GT_WEIGHT_QUANTIZATION is one of {', '.join(WEIGHT_KINDS)}")
    if not isinstance(model, torch.nn.Module) or not _linears(model):
        raise BackendError("quantize-failed", "weight quantization needs a torch.nn.Module with Linear layers",
                           "unset GT_WEIGHT_QUANTIZATION for this model")
    try:
        from torchao.quantization import (Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig,
                                          IntxWeightOnlyConfig, quantize_)
        from torchao.quantization.granularity import PerAxis, PerGroup
    except ImportError as err:
        raise BackendError("missing-package", f"GT_WEIGHT_QUANTIZATION={kind} needs torchao ({_short(err, 120)})",
                           PIP_TORCHAO) from None
    if kind == "int8":
        config, words = Int8WeightOnlyConfig(), "int8 weights (weight-only, per output channel)"
    elif kind == "int8-dynamic":
        config, words = Int8DynamicActivationInt8WeightConfig(), "int8 weights with int8 dynamic activations"
    else:
        group = int4_group(model)
        granularity = PerGroup(group) if group else PerAxis(0)
        config = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=granularity)
        words = f"int4 weights ({f'groups of {group}' if group else 'per output channel'}, weight-only)"
    try:
        quantize_(model, config)
    except Exception as err:  # torchao's own refusal (a shape, a dtype): the step fails with its words
        raise BackendError("quantize-failed", f"torchao could not quantize the weights to {kind}: "
                           f"{type(err).__name__}: {_short(err, 200)}",
                           "this model or torchao version does not take it; unset GT_WEIGHT_QUANTIZATION") from None
    log(f"{words}: {len(_linears(model))} Linear layers (torchao quantize_)")
    conv1d = [m for m in model.modules() if type(m).__name__ == "Conv1D"]
    if conv1d:  # GPT-2's linear layers are transformers' Conv1D, which quantize_() does not take
        log(f"{len(conv1d)} Conv1D layers (GPT-2 style) stay in floating point: torchao quantizes nn.Linear only",
            "warning")
    return model
