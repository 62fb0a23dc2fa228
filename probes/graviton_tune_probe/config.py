"""Parse and validate the probe configuration (ProbeConfig in source/core/types.ts).

The TypeScript side sends camelCase JSON; Python code reads snake_case attributes.
Every field has a default so a person can also run a probe by hand with a short
config such as '{"model": {"name": "resnet18"}}'. Anything malformed becomes a
`bad-config` error naming the field, never a traceback.

The options a deployment carries (batch size, channels_last, autocast, … : everything
the env file spells as GT_*) are declared once, in probes/graviton_tune_contract.json:
their types, defaults, choices and minimums come from there, as they do for the runtime
helper's settings() and for the env file graviton-tune writes. `environ()` spells a
configuration as those GT_* variables, which is how the probe hands it to the runtime
helper's optimize(), exactly as a deployed app gets it. What only the probe has (the
measuring budget, the seed, the check) is parsed here.

`ProbeConfig` also answers camelCase attribute names and dict-style lookups
(`cfg.batchSize`, `cfg["batchSize"]`, `cfg.get("batchSize")`), so code written
against the JSON contract (the extra backends) reads it either way.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple

from .protocol import ProbeError

CONTRACT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "graviton_tune_contract.json")
with open(CONTRACT_FILE, encoding="utf-8") as _handle:
    CONTRACT: Dict[str, Any] = json.load(_handle)
# The options by their JSON key (ProbeConfig's camelCase names).
OPTIONS: Dict[str, Dict[str, Any]] = {option["key"]: option for option in CONTRACT["options"]}

INPUT_DTYPES = ("float32", "int64")
# What a probe measures: one forward pass over a batch (samples/s), or generation (tokens/s).
TASKS = ("forward", "generate")
DEFAULT_PROMPT_LEN = 128
DEFAULT_NEW_TOKENS = 64


def _probe_value(option: Dict[str, Any], value: Any) -> Any:
    """The contract's spelling of "off" as the probe holds it: an enum's "none" is None."""
    if option["type"] == "enum" and value == "none":
        return None
    return value


def _default(key: str, fallback: Any = None) -> Any:
    option = OPTIONS.get(key)
    return fallback if option is None else _probe_value(option, option["default"])


BACKENDS = tuple(OPTIONS["backend"]["choices"]) if "backend" in OPTIONS else ("torch", "onnxruntime", "openvino")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _CamelAccess:
    """Let camelCase names (the JSON contract) reach the snake_case dataclass fields."""

    def __getattr__(self, name: str) -> Any:
        snake = _snake(name)
        if snake != name:
            return getattr(self, snake)
        raise AttributeError(name)

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, _snake(key))
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_json(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[_camel(f.name)] = value.to_json() if isinstance(value, _CamelAccess) else value
        return out


@dataclass
class ModelSpec(_CamelAccess):
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


@dataclass
class ProbeConfig(_CamelAccess):
    model: ModelSpec = field(default_factory=ModelSpec)
    # The deployment's options: defaults from the contract.
    batch_size: int = _default("batchSize", 1)
    channels_last: bool = _default("channelsLast", False)
    autocast: Optional[str] = _default("autocast")
    fp32_precision: Optional[str] = _default("fp32Precision")
    compile: bool = _default("compile", False)
    quantization: Optional[str] = _default("quantization")
    weight_quantization: Optional[str] = _default("weightQuantization")  # torchao on the Linear layers
    backend: str = _default("backend", "torch")
    workers: int = _default("workers", 1)
    threads_per_worker: Optional[int] = _default("threadsPerWorker")
    session_options: Optional[Dict[str, str]] = _default("sessionOptions")  # ONNX Runtime's session (GT_ORT_OPTIONS)
    cpu_list: Optional[List[int]] = _default("cpuList")
    # The probe's own.
    budget_seconds: float = 10.0
    warmup_iterations: int = 3
    target_relative_ci: float = 0.02
    seed: int = 0
    check: bool = True
    evaluate: bool = True


def _bad(field_name: str, problem: str) -> ProbeError:
    return ProbeError(
        "bad-config",
        f"invalid probe configuration: {field_name} {problem}",
        "the configuration follows ProbeConfig in source/core/types.ts",
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _choice(raw: dict, key: str, allowed: Tuple[Any, ...], default: Any) -> Any:
    value = raw.get(key, default)
    if value not in allowed:
        shown = ", ".join("null" if a is None else repr(a) for a in allowed)
        raise _bad(key, f"must be one of {shown}, got {value!r}")
    return value


def _flag(raw: dict, key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise _bad(key, f"must be true or false, got {value!r}")
    return value


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
    for key in ("seqLen", "promptLen", "newTokens"):
        value = raw.get(key)
        if value is not None and (not _is_int(value) or value < 1):
            raise _bad(f"model.{key}", f"must be a positive integer, got {value!r}")
        setattr(spec, _snake(key), value)
    task = raw.get("task")
    if task is not None and task not in TASKS:
        raise _bad("model.task", f"must be one of {', '.join(TASKS)}, got {task!r}")
    spec.task = task
    if spec.name is None and spec.path is None:
        spec.name = "resnet50"
    return spec


def _option(raw: dict, option: Dict[str, Any]) -> Any:
    """One contract option from the JSON configuration, validated by its declared type."""
    key, kind = option["key"], option["type"]
    value = _probe_value(option, raw.get(key, option["default"]))
    if value is None:
        if option["default"] is None or (kind == "enum" and "none" in option["choices"]):
            return None
        raise _bad(key, f"must not be null (default: {option['default']!r})")
    if kind in ("int", "float"):
        low = option.get("min")
        if not (_is_int(value) if kind == "int" else _is_number(value)) or (low is not None and value < low):
            what = "a positive integer" if kind == "int" and low == 1 else \
                f"{'an integer' if kind == 'int' else 'a number'}{'' if low is None else f' of at least {low}'}"
            raise _bad(key, f"must be {what}, got {value!r}")
        return value if kind == "int" else float(value)
    if kind == "bool":
        return _flag(raw, key, option["default"])
    if kind == "enum":
        allowed = tuple(None if c == "none" else c for c in option["choices"])
        return _choice({key: value}, key, allowed, None)
    if kind == "cpu-list":
        if (not isinstance(value, list) or not value or not all(_is_int(c) and c >= 0 for c in value)
                or len(set(value)) != len(value)):
            raise _bad(key, f"must be a non-empty list of distinct CPU ids, got {value!r}")
        return list(value)
    if kind == "map":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise _bad(key, f"must map option names to strings, got {value!r}")
        return dict(value)
    if not isinstance(value, str) or not value:
        raise _bad(key, f"must be a non-empty string, got {value!r}")
    return value


def _compact(cpus: List[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (the kernel's cpu-list spelling)."""
    parts: List[str] = []
    ordered = sorted(cpus)
    start = None
    for i, cpu in enumerate(ordered):
        start = cpu if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != cpu + 1:
            parts.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(parts)


def environ(cfg: "ProbeConfig") -> Dict[str, str]:
    """The configuration as the GT_* variables of graviton-tune's env file (unset ones left
    out): what the runtime helper reads, in the probe as in a deployed app."""
    out: Dict[str, str] = {}
    for key, option in OPTIONS.items():
        if key == "model":
            path = cfg.model.path
            value: Any = os.path.abspath(path) if path and path.lower().endswith(".onnx") else None
        else:
            value = getattr(cfg, _snake(key), None)
        if value is None:
            if option["type"] == "enum" and "none" in option["choices"]:
                out[option["env"]] = "none"
            continue
        kind = option["type"]
        if kind == "bool":
            out[option["env"]] = "1" if value else "0"
        elif kind == "cpu-list":
            out[option["env"]] = _compact(value)
        elif kind == "map":
            out[option["env"]] = ",".join(f"{k}={v}" for k, v in value.items()) or "default"
        else:
            out[option["env"]] = str(value)
    return out


def parse_config(text: str) -> Tuple[ProbeConfig, List[str]]:
    """Parse the JSON text of a ProbeConfig. Returns the config and warnings (unknown keys)."""
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

    cfg = ProbeConfig(model=_model(raw.get("model")))
    names = {f.name for f in fields(ProbeConfig)}
    for key, option in OPTIONS.items():
        if key != "model" and _snake(key) in names:
            setattr(cfg, _snake(key), _option(raw, option))
    cfg.check = _flag(raw, "check", True)
    cfg.evaluate = _flag(raw, "evaluate", True)

    budget = raw.get("budgetSeconds", 10.0)
    if not _is_number(budget) or budget <= 0:
        raise _bad("budgetSeconds", f"must be a positive number, got {budget!r}")
    cfg.budget_seconds = float(budget)

    warmup = raw.get("warmupIterations", 3)
    if not _is_int(warmup) or warmup < 0:
        raise _bad("warmupIterations", f"must be a non-negative integer, got {warmup!r}")
    cfg.warmup_iterations = max(1, warmup)  # the first call is never representative

    target = raw.get("targetRelativeCi", 0.02)
    if not _is_number(target) or target <= 0:
        raise _bad("targetRelativeCi", f"must be a positive number, got {target!r}")
    cfg.target_relative_ci = float(target)

    seed = raw.get("seed", 0)
    if not _is_int(seed):
        raise _bad("seed", f"must be an integer, got {seed!r}")
    cfg.seed = seed

    known = {_camel(f.name) for f in fields(ProbeConfig)}
    warnings = [f"unknown configuration key {key!r} ignored" for key in raw if key not in known]
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
