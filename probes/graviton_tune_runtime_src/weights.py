"""Quantized weights (GT_WEIGHT_QUANTIZATION): torchao's quantize_() on the Linear layers.

A language model's decode step reads every weight once per token, so its speed follows
the bytes of the weights: int8 weights move a quarter of fp32's, int4 an eighth. The
model stays an eager PyTorch module (generate() works as before); only the Linear
layers' weights change:
    int8          Int8WeightOnlyConfig: int8 weights, one scale per output channel
    int8-dynamic  Int8DynamicActivationInt8WeightConfig: int8 weights and activations
                  quantized per token at run time (int8 matmuls)
    int4          int4 weights in groups of 128, 64 or 32 inputs (the largest that divides
                  every layer), else per channel. Where torch has the KleidiAI kernels
                  (torch.backends.kleidiai: Arm builds) they run it: the weights packed for
                  aten._dyn_quant_matmul_4bit, activations quantized to int8 per token at
                  run time (torchao's Int8DynamicActivationIntxWeightConfig, packing
                  "opaque_aten_kleidiai"); elsewhere IntxWeightOnlyConfig(int4), weight-only
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
        grouping = f"groups of {group}" if group else "per output channel"
        if kleidiai_available() and _quantize_kleidiai(model, granularity, log):
            log(f"int4 weights ({grouping}) via KleidiAI, int8 dynamic activations: {len(_linears(model))} Linear "
                "layers (torchao quantize_, packing opaque_aten_kleidiai)")
            _say_conv1d(model, log)
            return model
        config = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=granularity)
        words = f"int4 weights ({grouping}, weight-only)"
    try:
        quantize_(model, config)
    except Exception as err:  # torchao's own refusal (a shape, a dtype): the step fails with its words
        raise BackendError("quantize-failed", f"torchao could not quantize the weights to {kind}: "
                           f"{type(err).__name__}: {_short(err, 200)}",
                           "this model or torchao version does not take it; unset GT_WEIGHT_QUANTIZATION") from None
    log(f"{words}: {len(_linears(model))} Linear layers (torchao quantize_)")
    _say_conv1d(model, log)
    return model


def kleidiai_available() -> bool:
    """Whether this torch has the KleidiAI int4 kernels (Arm builds from torch 2.6)."""
    backend = getattr(torch.backends, "kleidiai", None)
    return bool(backend is not None and backend.is_available() and hasattr(torch.ops.aten, "_dyn_quant_matmul_4bit"))


def _quantize_kleidiai(model: Any, granularity: Any, log: Log) -> bool:
    """int4 weights packed for KleidiAI's kernels; False (the model untouched) where this
    torchao has no such packing, so the weight-only path runs instead."""
    try:
        from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
        from torchao.quantization.quant_primitives import MappingType
        config = Int8DynamicActivationIntxWeightConfig(
            weight_dtype=torch.int4, weight_granularity=granularity, weight_mapping_type=MappingType.SYMMETRIC,
            intx_packing_format="opaque_aten_kleidiai")
    except (ImportError, TypeError, ValueError, AssertionError) as err:
        log(f"KleidiAI int4 not offered by this torchao ({_short(err, 120)}): int4 weight-only instead", "warning")
        return False
    try:  # layer by layer, in place (a copy would double the weights' memory): a refusal fails the step
        quantize_(model, config)
    except Exception as err:
        raise BackendError("quantize-failed", f"torchao could not pack the int4 weights for KleidiAI: "
                           f"{type(err).__name__}: {_short(err, 200)}",
                           "this model or torchao version does not take it; unset GT_WEIGHT_QUANTIZATION") from None
    # aten._dyn_quant_matmul_4bit reads the input's rows as if packed: torchao (0.15 to 0.18) hands it
    # input.reshape(-1, k), which for a strided view (generate()'s last-position slice before the LM
    # head) keeps the stride, and every row after the first is read from the wrong place (found by the
    # greedy-token check under emulated Graviton3: cosine 0.015 on the second sequence). Each layer's
    # input is made contiguous first; a no-op where it already is.
    for layer in _linears(model):
        layer.register_forward_pre_hook(_contiguous_input)
    return True


def _contiguous_input(_module: Any, args: tuple) -> Optional[tuple]:
    if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
        return (args[0].contiguous(), *args[1:])
    return None


def _say_conv1d(model: Any, log: Log) -> None:
    conv1d = [m for m in model.modules() if type(m).__name__ == "Conv1D"]
    if conv1d:  # GPT-2's linear layers are transformers' Conv1D, which quantize_() does not take
        log(f"{len(conv1d)} Conv1D layers (GPT-2 style) stay in floating point: torchao quantizes nn.Linear only",
            "warning")
