"""The probe's command line (--config): the model and how to measure it.

What is measured (batch size, channels_last, autocast, the backend, workers, … : every
deployment option) is not here. A probe is an app: it reads those from the GT_* variables
of its environment, exactly the lines graviton-tune's env file will hold, through the
runtime helper's settings() and optimize() (run.py). graviton-tune spells them once
(source/core/recipes/contract.ts, optionVariables) for both the probe and the env file.

The JSON carries only the model (name, path, factory, input shape, task …) and the
probe-level options (budgetSeconds, warmupIterations, targetRelativeCi, seed, check,
evaluate), declared in the contract's `probeOptions` and checked from that declaration.
A person runs a probe by hand as an app is run:

    GT_BATCH_SIZE=8 GT_CHANNELS_LAST=1 python -m graviton_tune_probe run --config '{"model": "resnet18"}'

Anything malformed becomes a `bad-config` error naming the field, never a traceback; a
deployment option in the JSON is one too, naming its GT_* variable.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .protocol import ProbeError

CONTRACT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "graviton_tune_contract.json")
with open(CONTRACT_FILE, encoding="utf-8") as _handle:
    CONTRACT: Dict[str, Any] = json.load(_handle)
# What only a probe takes, by its JSON key; the deployment options by JSON key (for the error that names their variable).
PROBE_OPTIONS: Dict[str, Dict[str, Any]] = {option["key"]: option for option in CONTRACT["probeOptions"]}
DEPLOYED: Dict[str, str] = {option["key"]: option["env"] for option in CONTRACT["options"] if option["key"] != "model"}

INPUT_DTYPES = ("float32", "int64")
# What a probe measures: one forward pass over a batch (samples/s), or generation (tokens/s).
TASKS = ("forward", "generate")
DEFAULT_PROMPT_LEN = 128
DEFAULT_NEW_TOKENS = 64


@dataclass
class ModelSpec:
    name: Optional[str] = None
    path: Optional[str] = None
    factory: Optional[str] = None
    input_shape: Optional[List[int]] = None
    input_dtype: Optional[str] = None
    seq_len: Optional[int] = None
    samples: Optional[str] = None
    # forward | generate; None: generate when the model can (a language-model head), else forward.
    task: Optional[str] = None
    prompt_len: Optional[int] = None  # generation: prompt tokens (default DEFAULT_PROMPT_LEN)
    new_tokens: Optional[int] = None  # generation: new tokens per sequence (default DEFAULT_NEW_TOKENS)


def _probe_default(key: str) -> Any:
    return PROBE_OPTIONS[key]["default"]


@dataclass
class ProbeConfig:
    model: ModelSpec = field(default_factory=ModelSpec)
    # The probe's own (contract: probeOptions).
    budget_seconds: float = float(_probe_default("budgetSeconds"))
    warmup_iterations: int = _probe_default("warmupIterations")
    target_relative_ci: float = float(_probe_default("targetRelativeCi"))
    seed: int = _probe_default("seed")
    check: bool = _probe_default("check")
    evaluate: bool = _probe_default("evaluate")
    # The deployment's choices: the runtime helper's settings() of this process's GT_*
    # variables (batch_size, backend, quantization, workers, threads, cpu_list, …), read
    # once the helper is imported (workers.pin); empty until then.
    options: Dict[str, Any] = field(default_factory=dict)


def _bad(field_name: str, problem: str, hint: str = "the configuration carries the model and the probe's own "
                                                    "options (source/core/recipes/contract.ts, probeOptions)") -> ProbeError:
    return ProbeError("bad-config", f"invalid probe configuration: {field_name} {problem}", hint)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _model(raw: Any) -> ModelSpec:
    if raw is None:
        raw = {}
    if isinstance(raw, str):  # a bare name or path is a convenience for hand-written configs
        raw = {"path": raw} if os.sep in raw or "." in raw else {"name": raw}
    if not isinstance(raw, dict):
        raise _bad("model", f"must be an object, got {raw!r}")
    spec = ModelSpec()
    for key in ("name", "path", "factory", "samples"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise _bad(f"model.{key}", f"must be a non-empty string, got {value!r}")
        setattr(spec, key, value)
    shape = raw.get("inputShape")
    if shape is not None:
        if not isinstance(shape, list) or not shape or not all(_is_int(d) and d > 0 for d in shape):
            raise _bad("model.inputShape", f"must be a list of positive integers, got {shape!r}")
        spec.input_shape = list(shape)
    dtype = raw.get("inputDtype")
    if dtype is not None and dtype not in INPUT_DTYPES:
        raise _bad("model.inputDtype", f"must be float32 or int64, got {dtype!r}")
    spec.input_dtype = dtype
    for key, attr in (("seqLen", "seq_len"), ("promptLen", "prompt_len"), ("newTokens", "new_tokens")):
        value = raw.get(key)
        if value is not None and (not _is_int(value) or value < 1):
            raise _bad(f"model.{key}", f"must be a positive integer, got {value!r}")
        setattr(spec, attr, value)
    task = raw.get("task")
    if task is not None and task not in TASKS:
        raise _bad("model.task", f"must be one of {', '.join(TASKS)}, got {task!r}")
    spec.task = task
    if spec.name is None and spec.path is None:
        spec.name = "resnet50"
    return spec


def _probe_option(option: Dict[str, Any], value: Any) -> Any:
    """One probe-level option, checked by its declaration (type, minimum)."""
    key, kind = option["key"], option["type"]
    if kind == "bool":
        if not isinstance(value, bool):
            raise _bad(key, f"must be true or false, got {value!r}")
        return value
    low, exclusive = option.get("min"), option.get("exclusiveMin", False)
    ok = _is_int(value) if kind == "int" else _is_number(value)
    if ok and low is not None:
        ok = value > low if exclusive else value >= low
    if not ok:
        what = "an integer" if kind == "int" else "a number"
        bound = "" if low is None else f" {'above' if exclusive else 'of at least'} {low}"
        raise _bad(key, f"must be {what}{bound}, got {value!r}")
    return value if kind == "int" else float(value)


def parse_config(text: str) -> Tuple[ProbeConfig, List[str]]:
    """Parse the JSON text of the probe's configuration. Returns it and warnings (unknown keys)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProbeError(
            "bad-config",
            f"the probe configuration is not valid JSON: {err}",
            "pass --config '<json object>' or --config @file.json",
        ) from None
    if not isinstance(raw, dict):
        raise ProbeError("bad-config", "the probe configuration must be a JSON object",
                         "pass --config '<json object>' or --config @file.json")
    deployed = [key for key in raw if key in DEPLOYED]
    if deployed:
        names = ", ".join(f"{key} ({DEPLOYED[key]})" for key in deployed)
        example = " ".join(f"{DEPLOYED[key]}=..." for key in deployed)
        what = "is a deployment option" if len(deployed) == 1 else "are deployment options"
        raise _bad(names, f"{what}: a probe reads them from its environment, as a deployed app does",
                   f"set it as the env file does: {example} python -m graviton_tune_probe run --config ...")

    cfg = ProbeConfig(model=_model(raw.get("model")))
    for key, option in PROBE_OPTIONS.items():
        if key in raw:
            setattr(cfg, option["python"], _probe_option(option, raw[key]))
    cfg.warmup_iterations = max(1, cfg.warmup_iterations)  # the first call is never representative

    warnings = [f"unknown configuration key {key!r} ignored" for key in raw if key != "model" and key not in PROBE_OPTIONS]
    return cfg, warnings


def read_config_argument(value: str) -> str:
    """`--config` takes the JSON itself, `@path` to read it from a file, or `-` for stdin."""
    if value == "-":
        import sys
        return sys.stdin.read()
    if value.startswith("@"):
        path = value[1:]
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except OSError as err:
            raise ProbeError("bad-config", f"cannot read the configuration file {path}: {err.strerror}",
                             "pass --config @path/to/config.json with a readable file") from None
    return value
