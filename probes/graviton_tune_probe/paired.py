"""Paired mode: a warm probe that measures on command, for close calls.

When the environment has GRAVITON_TUNE_PAIRED=1, a probe prepares its configuration as
usual (load, reference, configure, warm up, check), then, instead of measuring once,
says it is ready and waits on stdin for commands, one JSON object a line:

  {"cmd":"window","seconds":1.5}   one untimed call (wakes the threads), then timed
                                   calls for that long; answers
                                   {"type":"window","samplesPerSecond":…,"iterations":…,"seconds":…}
  {"cmd":"finish"}                 the usual {"type":"result",…} over every window
                                   measured, then exit 0
  end of input                     exit 0 without a result

Events it adds to the protocol: {"type":"paired-ready","setupSeconds":…}. The caller
(source/core/walk/paired.ts) runs two such probes, the incumbent and the candidate, and
alternates their windows in the same minutes so that the machine's drift cancels in the
ratio taken pair by pair. One worker only: several workers measure under torchrun.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

from . import measure as measuring
from .protocol import ProbeError, emit

ENV_FLAG = "GRAVITON_TUNE_PAIRED"


def requested() -> bool:
    return os.environ.get(ENV_FLAG, "") == "1"


def serve(probe: Any, prepared: Any, stdin: Optional[Any] = None) -> None:
    """Answer window/finish commands until finish or end of input (see the module docstring)."""
    if probe.team.world > 1:
        raise ProbeError("bad-config", "paired mode measures one worker", "run paired comparisons with workers 1")
    source = stdin if stdin is not None else sys.stdin
    batch = probe.cfg.options["batch_size"]
    total = measuring.Measurement(batch_size=batch)
    emit("paired-ready", setupSeconds=prepared.setup_seconds, warmupSeconds=prepared.warmup_seconds)
    for line in source:
        line = line.strip()
        if not line:
            continue
        try:
            command = json.loads(line)
        except ValueError:
            raise ProbeError("bad-usage", f"paired mode: not a JSON command: {line[:80]}") from None
        kind = command.get("cmd")
        if kind == "window":
            seconds = float(command.get("seconds", 1.0))
            prepared.call(prepared.input)  # wake the thread pool: the other process just ran
            rate = prepared.recorder.rate if getattr(prepared, "recorder", None) else None
            window = measuring.measure(prepared.call, prepared.input, batch, seconds,
                                       probe.cfg.target_relative_ci, fixed_window=True, rate=rate)
            total.durations.extend(window.durations)
            total.rates.extend(window.rates)
            total.seconds += window.seconds
            done = len(window.durations)
            if window.rates:  # generation: the calls' own decode rates (tokens/s)
                figure = sum(window.rates) / len(window.rates)
            else:
                figure = batch * done / window.seconds if window.seconds > 0 else None
            emit("window", samplesPerSecond=figure, iterations=done, seconds=window.seconds)
        elif kind == "finish":
            interval, real = total.throughput()
            width = interval.relative_half_width
            total.converged = bool(real and width is not None and width <= probe.cfg.target_relative_ci)
            figures = [probe._figure(prepared, total)]
            emit("result", **probe._result(figures, prepared))
            return
        else:
            raise ProbeError("bad-usage", f"paired mode: unknown command {kind!r}", 'send {"cmd":"window","seconds":1} or {"cmd":"finish"}')
