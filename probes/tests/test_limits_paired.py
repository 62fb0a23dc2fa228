"""limits.py (operation count, matmul rates) and paired.py (the warm probe's commands), in process."""
from __future__ import annotations

import io
import json
import time

import torch

from graviton_tune_probe import limits, paired


def test_count_flops_counts_a_linear_layer_as_two_per_multiply_add():
    layer = torch.nn.Linear(64, 32)
    flops = limits.count_flops(layer, torch.randn(1, 64), lambda m, x: m(x))
    assert flops == 2 * 64 * 32


def test_count_flops_is_none_when_the_model_fails():
    def broken(_m, _x):
        raise RuntimeError("no")
    assert limits.count_flops(torch.nn.Identity(), torch.randn(1), broken) is None


def test_matmul_rates_measure_fp32_and_name_what_was_left_out():
    out = limits.matmul_rates(threads=1, seconds=0.05, n=128)
    assert out["type"] == "matmul" and out["fp32"] > 0
    if not limits.bf16_supported():
        assert out["bf16"] is None
        assert any(n.startswith("bf16:") for n in out["notes"])


def test_matmul_size_grows_only_while_one_call_stays_short():
    took = []

    def make(m):
        def call():
            took.append(m)
            time.sleep(m / 10000)  # 256: 26 ms, 512: 51 ms, 1024: 102 ms
        return call

    # A 32nd of 3.2 s is 100 ms: 1024 is the first size past it, so it is the one measured.
    size, run = limits._quick_size(make, seconds=3.2, n=4096)
    assert size == 1024 and took == [256, 512, 1024]
    run()
    assert took[-1] == 1024
    # Never past n, and never more than n even when n is below the start.
    assert limits._quick_size(make, seconds=3.2, n=512)[0] == 512
    assert limits._quick_size(make, seconds=3.2, n=128)[0] == 128


def test_matmul_rate_is_the_fastest_call_not_the_mean():
    # A busy start (the first calls ten times slower), then the CPU's own pace: a rate kept
    # once per machine must be the pace, not a mean dragged down by the busy moment.
    calls = []

    def run():
        calls.append(1)
        time.sleep(0.1 if len(calls) <= 4 else 0.01)

    rate = limits._rate(run, ops=1e9, seconds=0.5)
    # 1 GOP per call: the pace is 1e9 / 0.01 s = 100 GOP/s (sleep overshoots, so somewhat under).
    assert 60 < rate <= 100
    # The mean over the window (3 slow calls after the warm one, 0.3 s, then ~20 fast ones)
    # would read under 50.
    assert len(calls) > 10


def test_matmul_rates_say_when_they_measured_a_smaller_matrix():
    out = limits.matmul_rates(threads=1, seconds=0.0001, n=1024)
    assert out["size"] < 1024
    assert any(n.startswith("fp32: measured at") for n in out["notes"])


class _Team:
    world = 1


class _Cfg:
    options = {"batch_size": 4}
    target_relative_ci = 0.02


class _Probe:
    team = _Team()
    cfg = _Cfg()

    def _figure(self, prepared, measurement):
        return {"iterations": measurement.iterations, "seconds": measurement.seconds}

    def _result(self, figures, prepared):
        return {"samplesPerSecond": {"median": 1.0}, "iterations": figures[0]["iterations"]}


class _Prepared:
    setup_seconds = 0.1
    warmup_seconds = 0.05
    input = torch.randn(4, 8)

    def __init__(self):
        self.calls = 0

    def call(self, x):
        self.calls += 1
        return x * 2


def test_serve_answers_windows_then_the_result(monkeypatch, capsys):
    events = []
    monkeypatch.setattr(paired, "emit", lambda kind, **fields: events.append({"type": kind, **fields}))
    commands = io.StringIO('{"cmd":"window","seconds":0.05}\n\n{"cmd":"window","seconds":0.05}\n{"cmd":"finish"}\n')
    prepared = _Prepared()
    paired.serve(_Probe(), prepared, stdin=commands)
    kinds = [e["type"] for e in events]
    assert kinds == ["paired-ready", "window", "window", "result"]
    windows = [e for e in events if e["type"] == "window"]
    assert all(w["iterations"] >= 1 and w["samplesPerSecond"] > 0 for w in windows)
    # Every window's calls count in the final figures; one untimed call wakes each window.
    assert events[-1]["iterations"] == sum(w["iterations"] for w in windows)
    assert prepared.calls == events[-1]["iterations"] + 2


def test_serve_refuses_an_unknown_command(monkeypatch):
    monkeypatch.setattr(paired, "emit", lambda kind, **fields: None)
    try:
        paired.serve(_Probe(), _Prepared(), stdin=io.StringIO(json.dumps({"cmd": "dance"}) + "\n"))
    except paired.ProbeError as err:
        assert err.code == "bad-usage"
    else:
        raise AssertionError("an unknown command must fail")
