"""The output check: how far a configuration's output is from the fp32 eager reference.

bf16 and int8 are lossy; a speed-up is only worth keeping while the answers stay
the same. Both outputs come from the same seeded input batch. Figures:
- cosine similarity of the flattened outputs, in float64 (1.0 = same direction);
- the largest absolute difference, element by element;
- top-1 agreement, for logits only (a 2-D [batch, classes] output): the fraction of
  rows whose argmax is the same. For other shapes (hidden states, images) it is null.
"""
from __future__ import annotations

from typing import List, Optional

import torch

from .protocol import ProbeError, emit


def compare(reference: torch.Tensor, output: torch.Tensor) -> dict:
    ref = reference.detach().to(torch.float64).cpu()
    out = output.detach().to(torch.float64).cpu()
    if ref.shape != out.shape:
        raise ProbeError("check-shape-mismatch",
                         f"the configured model's output has shape {list(out.shape)}, "
                         f"the fp32 reference's {list(ref.shape)}",
                         "the configuration changed what the model computes; run with check off to measure anyway")
    a, b = ref.flatten(), out.flatten()
    norms = a.norm() * b.norm()
    if not torch.isfinite(b).all():
        # NaN or Inf in the output: nothing about it is similar. maxAbsError goes out
        # as null (JSON has no Infinity), which readers must treat as a failed check.
        emit("log", level="warning", message="the configured model's output contains NaN or Inf")
        return {"cosine": 0.0, "maxAbsError": float("inf"), "top1Agreement": _top1(ref, out)}
    norms = a.norm() * b.norm()
    if norms == 0:
        # Two all-zero outputs agree perfectly; one zero and one not do not at all.
        cosine = 1.0 if torch.equal(a, b) else 0.0
    else:
        cosine = max(-1.0, min(1.0, float(torch.dot(a, b) / norms)))  # rounding can pass 1
    max_abs = float((a - b).abs().max()) if a.numel() else 0.0
    return {"cosine": cosine, "maxAbsError": max_abs, "top1Agreement": _top1(ref, out)}


def compare_batches(references: List[torch.Tensor], outputs: List[torch.Tensor]) -> dict:
    """The same figures over several batches (real samples): outputs concatenated along the batch."""
    return compare(torch.cat(references), torch.cat(outputs))


def _top1(ref: torch.Tensor, out: torch.Tensor) -> Optional[float]:
    if ref.dim() != 2 or ref.shape[1] < 2:
        return None
    return float((ref.argmax(dim=1) == out.argmax(dim=1)).to(torch.float64).mean())
