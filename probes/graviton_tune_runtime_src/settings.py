"""The GT_* variables, read as graviton_tune_contract.json declares them.

The contract is the one declaration of every configuration option (its environment
variable, Python name, type, default, choices and minimum); graviton-tune writes the env
file from it and the probe reads its configuration from it, so the three cannot drift.
In the deliverable graviton_tune_runtime.py the contract is embedded (one file to copy).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional

from .base import ConfigError

# bundle: contract >>>


def _read_contract() -> Dict[str, Any]:
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, os.pardir, "graviton_tune_contract.json"), encoding="utf-8") as handle:
        return json.load(handle)


CONTRACT: Dict[str, Any] = _read_contract()
# bundle: contract <<<

# The options by their Python name (the keys of settings()).
OPTIONS: Dict[str, Dict[str, Any]] = {option["python"]: option for option in CONTRACT["options"]}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _env(environ: Mapping[str, str], key: str) -> Optional[str]:
    value = environ.get(key)
    return value.strip() if value is not None and value.strip() != "" else None


def parse_cpu_list(text: str, key: str = "GT_CPU_LIST") -> List[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11] (the kernel's cpu-list spelling)."""
    cpus: List[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                low, high = part.split("-", 1)
                cpus.extend(range(int(low), int(high) + 1))
            elif part:
                cpus.append(int(part))
    except ValueError:
        raise ConfigError(f"{key}={text!r}: expected a cpu list such as 0-3,8-11") from None
    return sorted(set(cpus))


def _parse_map(text: str, key: str) -> Dict[str, str]:
    """"default" -> {}; "a=1,b=2" -> {"a": "1", "b": "2"}."""
    if text == "default":
        return {}
    out: Dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{key}={text!r}: expected default or key=value pairs joined by ','")
        out[name.strip()] = value.strip()
    return out


def parse_value(option: Mapping[str, Any], text: Optional[str]) -> Any:
    """One option's value from its environment spelling (None or blank: the default)."""
    key, kind = option["env"], option["type"]
    if text is None or text.strip() == "":
        return option["default"]
    value = text.strip()
    if kind == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{key}={value!r}: expected 0 or 1")
    if kind in ("int", "float"):
        try:
            number: Any = int(value) if kind == "int" else float(value)
        except ValueError:
            raise ConfigError(f"{key}={value!r}: expected {'a whole number' if kind == 'int' else 'a number'}") from None
        if option.get("min") is not None and number < option["min"]:
            raise ConfigError(f"{key}={value!r}: expected {option['min']} or more")
        return number
    if kind == "enum":
        lowered = value.lower()
        if lowered not in option["choices"]:
            raise ConfigError(f"{key}={lowered!r}: expected one of {', '.join(option['choices'])}")
        return lowered
    if kind == "cpu-list":
        return parse_cpu_list(value, key)
    if kind == "map":
        return _parse_map(value, key)
    return value  # string


def _omp_threads(environ: Mapping[str, str]) -> Optional[int]:
    """OMP_NUM_THREADS may be a nested list ("4,2"): the outer level is the pool size."""
    value = _env(environ, "OMP_NUM_THREADS")
    try:
        return max(1, int(value.split(",")[0])) if value else None
    except ValueError:
        return None


def settings(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The GT_* choices as Python values (validated; ConfigError on nonsense), keyed by
    the contract's Python names: batch_size, channels_last, autocast, fp32_precision,
    compile, quantization, backend, workers, threads (OMP_NUM_THREADS wins over
    GT_THREADS_PER_WORKER), cpu_list, ort_options, model_path."""
    env = os.environ if environ is None else environ
    out = {name: parse_value(option, env.get(option["env"])) for name, option in OPTIONS.items()}
    if "threads" in out:
        out["threads"] = _omp_threads(env) or out["threads"]
    return out


def model_path(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """GT_MODEL: the model file the winner was measured on (None when unset)."""
    env = os.environ if environ is None else environ
    option = OPTIONS["model_path"]
    return parse_value(option, env.get(option["env"]))


def batch_size(environ: Optional[Mapping[str, str]] = None) -> int:
    """GT_BATCH_SIZE: the batch size the winner was measured with (1 when unset)."""
    return settings(environ)["batch_size"]
