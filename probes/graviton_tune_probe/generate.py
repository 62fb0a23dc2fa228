"""The generation workload: a language model measured in tokens (DESIGN.md, "Workloads").

One timed iteration is one generate() call of the served model (the runtime helper's
OptimizedModel.generate, as the deployed app calls it): batch_size sequences, greedy,
from the same seeded prompts, exactly new_tokens new tokens each. Its rate is the decode
rate in tokens/s over all sequences (the tokens after the first, over the time from the
first to the last); the walk ranks configurations by it. Alongside:
  ttftMs               time to the first token (the prefill), p50 and p99 over the calls
  interTokenMs         the gaps between consecutive tokens, p50 and p99 (also latencyMs)
  decodeTokensPerSecond  per sequence and in total (medians)
  endToEndTokensPerSecond  new tokens of all sequences over the whole call (median)

The check: greedy tokens against fp32 eager's on the same prompts (sequences identical
over the first CHECK_TOKENS new tokens, where they first differ), and the prefill's
logits (the first new token's) by cosine and top-1, as the forward check does.
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch

import graviton_tune_runtime as rt

from . import check as output_check
from . import measure as measuring


def reference(module: Any, prompts: Dict[str, Any], new_tokens: int) -> Dict[str, torch.Tensor]:
    """fp32 eager on the unmodified model: its prefill logits and greedy tokens."""
    with torch.inference_mode():
        found = rt.generate_checked(module.generate, prompts, rt.greedy_settings(module, new_tokens))
    return {key: value.clone() for key, value in found.items()}


class Recorder:
    """The served model's generate() as the probe calls it: one timed call per input, its
    timing kept for the figures."""

    def __init__(self, served: Any, module: Any, new_tokens: int, batch_size: int):
        self.served = served
        self.settings = rt.greedy_settings(module, new_tokens)
        self.batch_size = batch_size
        self.calls: List[Dict[str, Any]] = []
        self.keep = False  # only the measured calls count (not the warm-up)

    def __call__(self, prompts: Dict[str, Any]) -> Dict[str, Any]:
        timed = rt.generate_timed(self.served.generate, prompts, self.settings)
        if self.keep:
            self.calls.append(timed)
        return timed

    def rate(self, timed: Dict[str, Any], seconds: float) -> float:
        """Decode tokens/s over all sequences in one call."""
        steps = len(timed["gaps"])
        return self.batch_size * steps / timed["decode"] if steps and timed["decode"] > 0 else self.batch_size / seconds

    def figures(self) -> Dict[str, Any]:
        """This worker's calls, in plain numbers (summed or pooled across workers by the leader)."""
        return {"ttft": [c["ttft"] for c in self.calls], "gaps": [g for c in self.calls for g in c["gaps"]],
                "perSequence": [len(c["gaps"]) / c["decode"] for c in self.calls if c["decode"] > 0],
                "endToEnd": [self.batch_size * c["tokens"].shape[1] / c["total"] for c in self.calls if c["total"] > 0]}


def check(ref: Dict[str, torch.Tensor], recorder: "Recorder", prompts: Dict[str, Any]) -> Dict[str, Any]:
    """The configured model against fp32 eager: prefill logits and greedy tokens, from one more
    generate() of the served model like the measured ones."""
    found = rt.generate_checked(recorder.served.generate, prompts, recorder.settings)
    figures = output_check.compare(ref["logits"], found["logits"])
    return {**figures, "tokens": rt.compare_tokens(ref["tokens"], found["tokens"])}


def summary(workers: List[Dict[str, Any]], prompt_len: int, new_tokens: int, batch_size: int,
            total: float) -> Dict[str, Any]:
    """The generation block of the result, from every worker's figures; `total` is the
    probe's decode tokens/s over all sequences (its samplesPerSecond median)."""
    ttft = sorted(1000.0 * t for w in workers for t in w["ttft"])
    gaps = sorted(1000.0 * g for w in workers for g in w["gaps"])
    per_sequence = measuring.median_interval([r for w in workers for r in w["perSequence"]])[0].median
    end_to_end = sum(measuring.median_interval(w["endToEnd"])[0].median for w in workers if w["endToEnd"])
    sequences = batch_size * len(workers)
    return {
        "promptTokens": prompt_len,
        "newTokens": new_tokens,
        "sequences": sequences,
        "ttftMs": {"p50": measuring.percentile(ttft, 50), "p99": measuring.percentile(ttft, 99)},
        "interTokenMs": {"p50": measuring.percentile(gaps, 50), "p99": measuring.percentile(gaps, 99)},
        "decodeTokensPerSecond": {"perSequence": per_sequence, "total": total},
        "endToEndTokensPerSecond": end_to_end,
    }


def inter_token_latency(workers: List[Dict[str, Any]]) -> Dict[str, float]:
    """latencyMs of a generating probe: the gaps between tokens (what --max-latency-ms bounds)."""
    return measuring.latency_percentiles([g for w in workers for g in w["gaps"]])

