"""Run the probe the way graviton-tune does: a subprocess, JSON lines on stdout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

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


CONTRACT = json.loads((PROBES / "graviton_tune_contract.json").read_text())
_DEPLOYED = {option["key"]: option for option in CONTRACT["options"] if option["key"] != "model"}


def _compact(cpus: List[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    parts, ordered, start = [], sorted(cpus), None
    for i, cpu in enumerate(ordered):
        start = cpu if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != cpu + 1:
            parts.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(parts)


def launched(config: dict) -> Tuple[dict, Dict[str, str]]:
    """A configuration as graviton-tune launches it (source/core/recipes/contract.ts:
    probeArguments and optionVariables): the model and probe-level keys on the command line,
    each deployment option as its GT_* variable spelled as the env file spells it. Tests
    write configurations in one dict; this is the test side's copy of that spelling."""
    probe_json, env = {}, {}
    for key, value in config.items():
        option = _DEPLOYED.get(key)
        if option is None:
            probe_json[key] = value
        elif value is None:
            if option["type"] == "enum":
                env[option["env"]] = "none"
        elif option["type"] == "bool":
            env[option["env"]] = "1" if value else "0"
        elif option["type"] == "cpu-list":
            env[option["env"]] = _compact(value)
        elif option["type"] == "map":
            env[option["env"]] = ",".join(f"{k}={v}" for k, v in value.items()) or "default"
        else:
            env[option["env"]] = str(value)
    return probe_json, env


def run_probe(config, workers: int = 1, timeout: float = 120, env: Optional[dict] = None) -> ProbeRun:
    """Run one probe as graviton-tune does (launched()); every stdout line must be a JSON
    object (the protocol's promise). A string config goes on the command line as it is."""
    variables: Dict[str, str] = {}
    if isinstance(config, str):
        text = config
    else:
        probe_json, variables = launched(config)
        text = json.dumps(probe_json)
    if workers > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={workers}",
                   "-m", "graviton_tune_probe", "run", "--config", text]
    else:
        command = [sys.executable, "-m", "graviton_tune_probe", "run", "--config", text]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    full_env = {**inherited, "PYTHONPATH": str(PROBES), **variables, **(env or {})}
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
