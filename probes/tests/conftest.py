"""Run the probe the way graviton-tune does: a subprocess, JSON lines on stdout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import pytest

PROBES = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(PROBES))  # in-process tests import graviton_tune_probe directly


@dataclass
class ProbeRun:
    events: List[dict]
    returncode: int
    stderr: str

    def of_type(self, kind: str) -> List[dict]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def result(self) -> Optional[dict]:
        found = self.of_type("result")
        return found[-1] if found else None

    @property
    def error(self) -> Optional[dict]:
        found = self.of_type("error")
        return found[-1] if found else None


def run_probe(config, workers: int = 1, timeout: float = 120, env: Optional[dict] = None) -> ProbeRun:
    """Run one probe; every stdout line must be a JSON object (the protocol's promise)."""
    text = config if isinstance(config, str) else json.dumps(config)
    if workers > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={workers}",
                   "-m", "graviton_tune_probe", "run", "--config", text]
    else:
        command = [sys.executable, "-m", "graviton_tune_probe", "run", "--config", text]
    full_env = {**os.environ, "PYTHONPATH": str(PROBES), **(env or {})}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env)
    events = []
    for line in done.stdout.splitlines():
        event = json.loads(line)  # raises on anything that is not protocol
        assert isinstance(event, dict) and "type" in event, line
        events.append(event)
    return ProbeRun(events, done.returncode, done.stderr)


@pytest.fixture
def probe():
    return run_probe


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
