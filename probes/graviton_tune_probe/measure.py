"""Timed iterations and their statistics.

Each timed iteration runs one batch and is timed alone with time.perf_counter, so
the figures are per batch: throughput_i = batch / seconds_i. Warm-up iterations
(where torch.compile compiles, caches fill and oneDNN picks kernels) are timed
separately and never mixed into throughput.

Throughput is the median of the per-iteration throughputs; its 95% confidence
interval is the distribution-free one for a median (order statistics, from the
binomial distribution): robust to the odd slow iteration (a page fault, another
process) that would drag a mean and a t-interval around, and needing no
resampling. With fewer than 6 iterations no 95% interval exists; the range of
what was seen is reported and the run does not count as converged.

Stopping (single process): as soon as the interval's half-width is within
`target_relative_ci` of the median, but never before 5 iterations and 1 second,
and never before 10 iterations unless 3 seconds have passed (slow models); else
when the budget is spent. An iteration that would end past the budget (judged by
the median so far) is not started, so measureSeconds stays within the budget.
Multi-worker probes measure over a fixed window instead (`fixed_window=True`):
the workers must cover the same stretch of time for their sum to mean anything.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

MIN_ITERATIONS = 5
MIN_SECONDS = 1.0
PREFERRED_ITERATIONS = 10
SLOW_SECONDS = 3.0
PROGRESS_INTERVAL = 0.25  # at most 4 progress events per second
CHECK_INTERVAL = 0.1  # how often the (sorting) convergence test runs once iterations are many


@dataclass
class Interval:
    median: float
    ci_low: float
    ci_high: float

    @property
    def relative_half_width(self) -> Optional[float]:
        if self.median <= 0:
            return None
        return max(self.median - self.ci_low, self.ci_high - self.median) / self.median

    def to_json(self) -> dict:
        return {"median": self.median, "ciLow": self.ci_low, "ciHigh": self.ci_high}


@dataclass
class Measurement:
    durations: List[float] = field(default_factory=list)  # seconds per batch, in order
    batch_size: int = 1
    seconds: float = 0.0
    converged: bool = False
    # Per iteration, when the call says its own rate (generation: decode tokens/s); else
    # the rate is batch_size / duration.
    rates: List[float] = field(default_factory=list)

    @property
    def iterations(self) -> int:
        return len(self.durations)

    def throughput(self) -> Tuple[Interval, bool]:
        """Median samples/s (or the calls' own rates) with its 95% CI, and whether the CI is a real 95% one."""
        return median_interval(self.rates or [self.batch_size / d for d in self.durations])

    def latency_ms(self) -> dict:
        return latency_percentiles(self.durations)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_percentiles(durations: Sequence[float]) -> dict:
    ordered = sorted(d * 1000.0 for d in durations)
    return {"p50": percentile(ordered, 50), "p90": percentile(ordered, 90), "p99": percentile(ordered, 99)}


def _median_rank_bounds(n: int) -> Optional[Tuple[int, int]]:
    """0-based ranks (j, k) with P(x_(j) <= median <= x_(k)) >= 95%, or None when n < 6."""
    if n < 6:
        return None
    if n > 300:  # normal approximation to Binomial(n, 1/2), ample at this size
        half = 0.98 * math.sqrt(n)  # 1.96 * sqrt(n) / 2
        j = max(0, math.floor(n / 2 - half) - 1)
        return j, n - 1 - j
    # exact: the lower bound is x_(j) (0-based) for the largest j with P(Binomial(n, 1/2) <= j) <= 2.5%
    total = 2 ** n
    cumulative, j = 0, 0
    while True:
        cumulative += math.comb(n, j)
        if cumulative * 40 > total:  # P(B <= j) > 2.5%: one rank too far
            break
        j += 1
    return j - 1, n - j


def median_interval(values: Sequence[float]) -> Tuple[Interval, bool]:
    ordered = sorted(values)
    if not ordered:
        return Interval(float("nan"), float("nan"), float("nan")), False
    median = percentile(ordered, 50)
    bounds = _median_rank_bounds(len(ordered))
    if bounds is None:
        return Interval(median, ordered[0], ordered[-1]), False
    return Interval(median, ordered[bounds[0]], ordered[bounds[1]]), True


def warm_up(call: Callable[[Any], Any], x: Any, iterations: int) -> Tuple[List[float], Any]:
    """Run untimed-for-throughput iterations; returns their durations and the last output."""
    durations, output = [], None
    for _ in range(iterations):
        start = time.perf_counter()
        output = call(x)
        durations.append(time.perf_counter() - start)
    return durations, output


def _may_stop(n: int, elapsed: float) -> bool:
    return n >= MIN_ITERATIONS and elapsed >= MIN_SECONDS and (n >= PREFERRED_ITERATIONS or elapsed >= SLOW_SECONDS)


ProgressFn = Callable[[float, int, float, Optional[float]], None]


def measure(call: Callable[[Any], Any], x: Any, batch_size: int, budget_seconds: float,
            target_relative_ci: float, progress: Optional[ProgressFn] = None,
            fixed_window: bool = False, rate: Optional[Callable[[Any, float], float]] = None) -> Measurement:
    """Timed iterations until the CI target is met (unless fixed_window) or the budget is spent.

    `rate(output, seconds)`: the iteration's rate from what the call returned, where it is
    not batch_size / seconds (generation: decode tokens/s, timed inside the call)."""
    result = Measurement(batch_size=batch_size)
    durations = result.durations
    start = time.perf_counter()
    last_progress = last_check = start
    while True:
        now = time.perf_counter()
        elapsed = now - start
        n = len(durations)
        if n >= 1 and elapsed >= budget_seconds:
            break
        if n >= 3 and elapsed + _median(durations) > budget_seconds:
            break  # the next iteration would most likely end past the budget
        if not fixed_window and _may_stop(n, elapsed) and (n < 64 or now - last_check >= CHECK_INTERVAL):
            last_check = now
            interval, real = result.throughput()
            width = interval.relative_half_width
            if real and width is not None and width <= target_relative_ci:
                result.converged = True
                break
        if progress is not None and n >= 1 and now - last_progress >= PROGRESS_INTERVAL:
            last_progress = now
            interval, real = result.throughput()
            progress(interval.median, n, elapsed, interval.relative_half_width if real else None)
        t0 = time.perf_counter()
        output = call(x)
        durations.append(time.perf_counter() - t0)
        if rate is not None:
            result.rates.append(rate(output, durations[-1]))
    result.seconds = time.perf_counter() - start
    if not result.converged:
        interval, real = result.throughput()
        width = interval.relative_half_width
        result.converged = bool(real and width is not None and width <= target_relative_ci)
    return result


def _median(values: Sequence[float]) -> float:
    # Cheap enough per iteration for the few iterations where it matters; for many
    # fast iterations, sorting each time would be waste, so a recent window is used.
    window = values[-64:]
    return percentile(sorted(window), 50)
