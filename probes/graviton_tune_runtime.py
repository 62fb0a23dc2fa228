"""graviton-tune runtime helper: apply the measured model-level choices in your code.

graviton-tune writes the winning configuration to graviton-tune.env. The process-level
part (LD_PRELOAD, OMP_*, DNNL_*, THP_MEM_ALLOC_ENABLE …) takes effect when the env file
is loaded before Python starts (launch.sh, systemd EnvironmentFile=, docker --env-file).
The model-level part travels as GT_* variables, which this module applies:

    from graviton_tune_runtime import optimize
    model = optimize(model, example_input)
    output = model(batch)

A model with several inputs gets them in the same form: a tuple (positional) or a dict
(keyword arguments), e.g. a Hugging Face model loaded with from_pretrained:

    model = optimize(AutoModelForSequenceClassification.from_pretrained(folder),
                     tokenizer(texts, padding="max_length", max_length=128, return_tensors="pt"))
    logits = model(**tokenizer(batch, padding="max_length", max_length=128, return_tensors="pt")).logits

A language model (a causal LM or a seq2seq LM) is served generating, as graviton-tune
measured it (greedy, a fixed number of new tokens; see greedy_settings):

    model = optimize(AutoModelForCausalLM.from_pretrained(folder))
    tokens = model.generate(**tokenizer(prompts, return_tensors="pt"), **greedy_settings(model, 64))

Under torchrun (GT_WORKERS > 1) each worker pins itself to its own CPUs when this module
is imported; import it before torch so that OpenMP sees the pinned set when it loads.
Feed batches of batch_size() samples (GT_BATCH_SIZE): that is the size that was measured.

Variables (all optional; unset means the plain fp32 eager default):
    GT_BATCH_SIZE          int, the measured batch size (read with batch_size())
    GT_CHANNELS_LAST       0/1, NHWC memory format for the model and 4-D inputs (int8: the
                           inputs only; onnxruntime, openvino: no effect, they pick layouts)
    GT_AUTOCAST            bf16|none, torch.autocast("cpu", bfloat16) around calls
    GT_FP32_PRECISION      bf16|none, oneDNN fp32 matmul/conv computed in bf16
    GT_COMPILE             0/1, torch.compile (inductor) with freezing and weight prepack
    GT_QUANTIZATION        int8|none, int8 (needs example_input): PT2E through torchao on
                           torch, static/dynamic quantization on ONNX Runtime, NNCF on OpenVINO
    GT_WEIGHT_QUANTIZATION int8|int8-dynamic|int4|none, torchao quantize_() on the Linear layers
                           (torch only; the model stays eager, generate() works): int8 or int4
                           weights, or int8 weights with int8 dynamic activations
    GT_BACKEND             torch|onnxruntime|openvino: where the model runs (onnxruntime and
                           openvino export/convert it first, so they need example_input)
    GT_WORKERS             processes under torchrun; with LOCAL_RANK set, each is pinned
    GT_THREADS_PER_WORKER  threads per process (OMP_NUM_THREADS wins when set)
    GT_CPU_LIST            CPUs the workers share, e.g. 0-7 (default: this process's affinity)
    GT_ORT_OPTIONS         onnxruntime only: the ONNX Runtime session as measured, "default" (a
                           plain SessionOptions(), ONNX Runtime's own defaults) or key=value
                           pairs joined by "," on top of those defaults: intra_op_num_threads,
                           inter_op_num_threads ("threads" = GT_THREADS_PER_WORKER),
                           execution_mode (sequential|parallel), graph_optimization_level
                           (disabled|basic|extended|all), any other key with a "." is a session
                           config entry. Unset: the helper's tuned session (see prepare_onnxruntime)
    GT_MODEL               optional: the model file the app serves (an .onnx file for the ONNX
                           walk); read it with model_path()

On onnxruntime and openvino, bf16 (GT_AUTOCAST or GT_FP32_PRECISION) means what it meant
when measured: OpenVINO's INFERENCE_PRECISION_HINT=bf16 (f32 otherwise, set explicitly);
on ONNX Runtime, bf16 GEMM fast math on Arm CPUs with bf16 (always on there) and nothing
on x86. `model` may also be the path of an .onnx file (or an OpenVINO .xml) for them.

Packages: torch always; torchao for int8 on torch; onnxruntime, onnx and onnxscript for
GT_BACKEND=onnxruntime; openvino for GT_BACKEND=openvino, plus nncf for its int8.
A missing one raises BackendError with the pip command in its .hint.

Outputs: on torch, what the model returns (under bf16 autocast in bfloat16: call .float()
if the rest of your code expects float32). On onnxruntime and openvino, the model's first
output as a float32 torch tensor.

int8 calibration: as measured, on example_input plus a few seeded random batches of its
shape (token inputs: random ids up to the example's largest). That is enough to measure
speed, not to keep accuracy: pass real inputs as
optimize(model, example_input, calibration_data=[batch, ...]) before serving int8.

Inputs in channels_last: with GT_CHANNELS_LAST=1 each call converts 4-D float inputs
(images) to channels_last, as measured; an app whose data path can produce them in that
layout once (model.prepare_input(batch), or prepare_input(batch)) skips the conversion.

What was measured is what is served: graviton-tune's probe builds the model with this
optimize(), from the same GT_* variables, and times calls of what it returns, the way
an app calls it. The backends' functions are public too: prepare_int8,
prepare_onnxruntime, prepare_openvino (plus tidy_for_quantization), with a plain
options mapping.
"""


# Generated by scripts/bundle-runtime.mjs from probes/graviton_tune_runtime_src/ and


# probes/graviton_tune_contract.json (npm run generate): edit those, not this file.


# ruff: noqa: E402, E501, F811, I001


from __future__ import annotations


# ---------------------------------------------------------------- base.py
# Errors, package hints, logging hooks and CPU facts: what every other part uses (no torch).
import importlib
import logging
import platform
from typing import Any, Callable, Mapping, Optional, Tuple


class ConfigError(ValueError):
    """A GT_* variable with a value this helper does not understand, or CPUs it cannot pin to.

    .code: "bad-config" (a value), "too-few-cpus" or "bad-cpu-list" (pinning); .hint: the fix.
    """

    def __init__(self, message: str, code: str = "bad-config", hint: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class BackendError(RuntimeError):
    """Preparing or first running a backend failed: a stable .code, a .message and a .hint.

    Codes (graviton-tune's probe reports the same ones):
    missing-package     a needed Python package is not importable (hint: the pip command)
    torch-too-old       torch too old for torch.export / PT2E int8
    int8-unsupported    no PT2E quantizer for this CPU architecture
    compiler-missing    inductor (int8 path) needs a C++ compiler and none works
    export-failed       torch.export / ONNX export / OpenVINO conversion failed
    quantize-failed     calibration or quantization failed
    compile-failed      the first int8 call (inductor compilation) failed
    model-not-found     the .onnx path does not exist
    session-failed      ONNX Runtime could not load the model / OpenVINO could not compile it
    onnx-inputs         the ONNX model has inputs that cannot be filled automatically
    bf16-unsupported    bf16 was asked of OpenVINO on a CPU without bf16
    inference-failed    the first inference call of ONNX Runtime / OpenVINO failed
    """

    def __init__(self, code: str, message: str, hint: Optional[str] = None):
        super().__init__(message if hint is None else f"{message} (hint: {hint})")
        self.code = code
        self.message = message
        self.hint = hint


PIP_TORCHAO = "pip install torchao"
PIP_ORT = "pip install onnxruntime onnx onnxscript"
PIP_OPENVINO = "pip install openvino"
PIP_NNCF = "pip install nncf"

Log = Callable[..., None]
Phase = Callable[[str], None]

_logger = logging.getLogger("graviton_tune_runtime")


def _hooks(log: Optional[Log], phase: Optional[Phase]) -> Tuple[Log, Phase]:
    def say(message: str, level: str = "info") -> None:
        if log is not None:
            log(message, level=level)

    def step(name: str) -> None:
        if phase is not None:
            phase(name)

    return say, step


def _opt(options: Optional[Mapping[str, Any]], key: str, default: Any = None) -> Any:
    if options is None:
        return default
    value = options.get(key, default)
    return default if value is None else value


def _short(err: BaseException, limit: int = 400) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    text = text.splitlines()[0] if "\n" in text and len(text) > limit else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require(module: str, hint: str, what: Optional[str] = None) -> Any:
    """Import `module` or raise missing-package with the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendError(
            "missing-package",
            f"{what or module} is not installed in this Python environment ({_short(err)})",
            hint,
        ) from None


def _machine() -> str:
    return platform.machine().lower()


def _is_x86() -> bool:
    return _machine() in ("x86_64", "amd64", "i686", "i386")


def _is_arm64() -> bool:
    return _machine() in ("aarch64", "arm64")


def _cpu_features() -> set:
    """Flags (x86 `flags`) or Features (Arm `Features`) of the first CPU in /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def _cpu_has_bf16(features: Optional[set] = None) -> bool:
    features = _cpu_features() if features is None else features
    if _is_arm64():
        return "bf16" in features
    return bool(features & {"avx512_bf16", "amx_bf16"})


# ---------------------------------------------------------------- settings.py
# The GT_* variables, read as graviton_tune_contract.json declares them.
#
# The contract is the one declaration of every configuration option (its environment
# variable, Python name, type, default, choices and minimum); graviton-tune writes the env
# file from it and the probe reads its configuration from it, so the three cannot drift.
# In the deliverable graviton_tune_runtime.py the contract is embedded (one file to copy).
import os
from typing import Any, Dict, List, Mapping, Optional


CONTRACT: Dict[str, Any] = {
    "version": 1,
    "generatedFrom": "source/core/recipes/contract.ts (npm run generate); do not edit by hand",
    "options": [
        {
            "key": "batchSize",
            "env": "GT_BATCH_SIZE",
            "python": "batch_size",
            "type": "int",
            "default": 1,
            "choices": None,
            "min": 1,
            "exclusiveMin": False,
            "flag": "--batch-size",
            "level": "model",
            "optional": False,
            "recipe": False,
            "backends": None,
            "description": "samples per call: the batch size measured (feed batches of this size)",
        },
        {
            "key": "channelsLast",
            "env": "GT_CHANNELS_LAST",
            "python": "channels_last",
            "type": "bool",
            "default": False,
            "choices": None,
            "min": None,
            "exclusiveMin": False,
            "flag": "--channels-last",
            "level": "model",
            "optional": False,
            "recipe": True,
            "backends": ["torch"],
            "description": "NHWC memory format (channels_last) for the model and 4-D inputs",
        },
        {
            "key": "autocast",
            "env": "GT_AUTOCAST",
            "python": "autocast",
            "type": "enum",
            "default": "none",
            "choices": ["none", "bf16"],
            "min": None,
            "exclusiveMin": False,
            "flag": "--autocast",
            "level": "model",
            "optional": False,
            "recipe": True,
            "backends": ["torch"],
            "description": "torch.autocast(\"cpu\", dtype) around inference",
        },
        {
            "key": "fp32Precision",
            "env": "GT_FP32_PRECISION",
            "python": "fp32_precision",
            "type": "enum",
            "default": "none",
            "choices": ["none", "bf16"],
            "min": None,
            "exclusiveMin": False,
            "flag": "--fp32-precision",
            "level": "model",
            "optional": False,
            "recipe": True,
            "backends": None,
            "description": "oneDNN fp32 matmul/conv computed in this precision (torch.backends.mkldnn fp32_precision)",
        },
        {
            "key": "compile",
            "env": "GT_COMPILE",
            "python": "compile",
            "type": "bool",
            "default": False,
            "choices": None,
            "min": None,
            "exclusiveMin": False,
            "flag": "--compile",
            "level": "model",
            "optional": False,
            "recipe": True,
            "backends": ["torch"],
            "description": "torch.compile (inductor) with freezing and weight prepack",
        },
        {
            "key": "quantization",
            "env": "GT_QUANTIZATION",
            "python": "quantization",
            "type": "enum",
            "default": "none",
            "choices": ["none", "int8"],
            "min": None,
            "exclusiveMin": False,
            "flag": "--quantization",
            "level": "model",
            "optional": False,
            "recipe": True,
            "backends": None,
            "description": "int8 through PT2E with the CPU's inductor quantizer (NNCF on OpenVINO, static int8 on ONNX Runtime)",
        },
        {
            "key": "weightQuantization",
            "env": "GT_WEIGHT_QUANTIZATION",
            "python": "weight_quantization",
            "type": "enum",
            "default": "none",
            "choices": ["none", "int8", "int8-dynamic", "int4"],
            "min": None,
            "exclusiveMin": False,
            "flag": "--weight-quantization",
            "level": "model",
            "optional": True,
            "recipe": True,
            "backends": ["torch"],
            "description": "torchao quantize_() on the Linear layers, in eager PyTorch: int8 weights (weight-only), int8 weights with int8 dynamic activations, or int4 weights in groups (weight-only); the language-model steps",
        },
        {
            "key": "backend",
            "env": "GT_BACKEND",
            "python": "backend",
            "type": "enum",
            "default": "torch",
            "choices": ["torch", "onnxruntime", "openvino"],
            "min": None,
            "exclusiveMin": False,
            "flag": "--backend",
            "level": "model",
            "optional": False,
            "recipe": True,
            "backends": None,
            "description": "where the model runs: PyTorch, ONNX Runtime or OpenVINO",
        },
        {
            "key": "sessionOptions",
            "env": "GT_ORT_OPTIONS",
            "python": "ort_options",
            "type": "map",
            "default": None,
            "choices": None,
            "min": None,
            "exclusiveMin": False,
            "flag": None,
            "level": "model",
            "optional": True,
            "recipe": True,
            "backends": ["onnxruntime"],
            "description": "ONNX Runtime's session as measured, on top of its defaults ({} = a plain SessionOptions(), \"threads\" as a value = the threads per worker); absent: the runtime helper's tuned session",
        },
        {
            "key": "workers",
            "env": "GT_WORKERS",
            "python": "workers",
            "type": "int",
            "default": 1,
            "choices": None,
            "min": 1,
            "exclusiveMin": False,
            "flag": "--workers",
            "level": "process",
            "optional": False,
            "recipe": False,
            "backends": None,
            "description": "processes: 1 = one process, N > 1 = torchrun with N pinned workers",
        },
        {
            "key": "threadsPerWorker",
            "env": "GT_THREADS_PER_WORKER",
            "python": "threads",
            "type": "int",
            "default": None,
            "choices": None,
            "min": 1,
            "exclusiveMin": False,
            "flag": "--threads",
            "level": "process",
            "optional": False,
            "recipe": False,
            "backends": None,
            "description": "threads per worker (torch.set_num_threads; ONNX Runtime and OpenVINO: their thread count); default: the usable CPUs / workers",
        },
        {
            "key": "cpuList",
            "env": "GT_CPU_LIST",
            "python": "cpu_list",
            "type": "cpu-list",
            "default": None,
            "choices": None,
            "min": None,
            "exclusiveMin": False,
            "flag": None,
            "level": "process",
            "optional": True,
            "recipe": False,
            "backends": None,
            "description": "CPU ids the workers may use (the usable set); workers split it between them",
        },
        {
            "key": "model",
            "env": "GT_MODEL",
            "python": "model_path",
            "type": "string",
            "default": None,
            "flag": "--model",
            "level": "model",
            "description": "the model file the app serves (an .onnx file for the ONNX walk)",
            "choices": None,
            "min": None,
            "exclusiveMin": False,
            "optional": True,
            "recipe": False,
            "backends": None,
        },
    ],
    "probeOptions": [
        {
            "key": "budgetSeconds",
            "python": "budget_seconds",
            "type": "float",
            "default": 10,
            "min": 0,
            "exclusiveMin": True,
            "description": "seconds of timed measurement at most (warm-up not included)",
        },
        {
            "key": "warmupIterations",
            "python": "warmup_iterations",
            "type": "int",
            "default": 3,
            "min": 0,
            "exclusiveMin": False,
            "description": "untimed iterations before measuring",
        },
        {
            "key": "targetRelativeCi",
            "python": "target_relative_ci",
            "type": "float",
            "default": 0.02,
            "min": 0,
            "exclusiveMin": True,
            "description": "stop measuring once the 95% CI half-width / median is below this",
        },
        {
            "key": "seed",
            "python": "seed",
            "type": "int",
            "default": 0,
            "min": None,
            "exclusiveMin": False,
            "description": "seed of the random inputs and weights",
        },
        {
            "key": "check",
            "python": "check",
            "type": "bool",
            "default": True,
            "min": None,
            "exclusiveMin": False,
            "description": "compare the outputs against the fp32 eager reference",
        },
        {
            "key": "evaluate",
            "python": "evaluate",
            "type": "bool",
            "default": True,
            "min": None,
            "exclusiveMin": False,
            "description": "run the model file's evaluate(model), when it has one",
        },
    ],
}

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


# ---------------------------------------------------------------- pinning.py
# Worker pinning: each worker on its own CPUs, as graviton-tune measured it.
#
# graviton-tune's probe pins itself with this very function (it sets the GT_* variables of
# the configuration it measures, then imports this module), so what was measured is what
# a deployed worker gets. It runs when the module is imported, before torch loads: the
# OpenMP runtime computes its places (OMP_PLACES / OMP_PROC_BIND) from the affinity it sees
# when it loads; pinned later, its threads could stay bound to another worker's cores.
#
# The CPUs are split node by node (the NUMA nodes of /sys/devices/system/node): where the
# nodes' CPU ids interleave (node0 = 0-47,96-143), a sorted split would give one worker CPUs
# of both nodes. graviton-tune offers only worker counts whose slices each lie inside one node.
import os
from typing import Dict, List, Mapping, Optional


# Captured before any pinning, so pinning again (optimize() after import) takes the same slice.
_IMPORT_AFFINITY: Optional[List[int]] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else None

_CPU_HINT = "pass only CPUs from the usable set (see `graviton-tune detect`)"

_NODE_ROOT = "/sys/devices/system/node"


def _ranges(cpus: List[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    parts: List[str] = []
    start: Optional[int] = None
    for i, cpu in enumerate(cpus):
        if start is None:
            start = cpu
        if i + 1 == len(cpus) or cpus[i + 1] != cpu + 1:
            parts.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(parts)


def numa_nodes(root: str = _NODE_ROOT) -> List[List[int]]:
    """The CPUs of each NUMA node, nodes in id order ([] where the machine shows none; a
    node without CPUs, or whose cpulist cannot be read, is an empty list)."""
    try:
        ids = sorted(int(name[4:]) for name in os.listdir(root) if name.startswith("node") and name[4:].isdigit())
    except OSError:
        return []
    nodes: List[List[int]] = []
    for node in ids:
        try:
            with open(os.path.join(root, f"node{node}", "cpulist")) as f:
                text = f.read().strip()
            nodes.append(parse_cpu_list(text) if text else [])
        except (OSError, ConfigError):
            nodes.append([])
    return nodes


def node_order(pool: List[int], nodes: List[List[int]]) -> List[int]:
    """The pool node by node: each node's CPUs in order, CPUs in no node last (in order), so
    that contiguous slices stay inside a node even where the nodes' CPU ids interleave."""
    node_of: Dict[int, int] = {}
    for index, cpus in enumerate(nodes):
        for cpu in cpus:
            node_of.setdefault(cpu, index)
    return sorted(pool, key=lambda cpu: (node_of.get(cpu, len(nodes)), cpu))


def worker_cpus(environ: Optional[Mapping[str, str]] = None,
                nodes: Optional[List[List[int]]] = None) -> Optional[List[int]]:
    """This process's CPUs (sorted): the LOCAL_RANK-th equal contiguous slice among GT_WORKERS
    of GT_CPU_LIST (default: the CPUs this process could use when this module was imported)
    taken node by node (node_order; `nodes`: the CPUs of each NUMA node, default this
    machine's).

    None (leave placement alone) for one worker without GT_CPU_LIST, and for several
    workers outside torchrun (no LOCAL_RANK). CPUs left over when the list does not divide
    evenly stay unused: equal workers make the sum meaningful. ConfigError (code
    "too-few-cpus") when there are fewer CPUs than workers.
    """
    env = os.environ if environ is None else environ
    cfg = settings(env)
    workers, pool = cfg["workers"], cfg["cpu_list"]
    rank = env.get("LOCAL_RANK")
    if (workers > 1 and rank is None) or (workers <= 1 and pool is None):
        return None
    if pool is None:
        pool = _IMPORT_AFFINITY
    if pool is None:
        return None  # no sched_setaffinity on this platform
    per_worker = len(pool) // workers
    if per_worker == 0:
        raise ConfigError(f"{workers} workers need at least {workers} CPUs, the CPU list has {len(pool)}",
                          "too-few-cpus", "use fewer workers")
    ordered = node_order(pool, numa_nodes() if nodes is None else nodes)
    index = int(rank or 0)
    return sorted(ordered[index * per_worker:(index + 1) * per_worker])


def pin_worker(environ: Optional[Mapping[str, str]] = None) -> Optional[List[int]]:
    """Pin this process to worker_cpus() and read the affinity back. Returns the CPUs, or
    None when not pinned.

    Every existing thread is pinned, not only the caller, since the OpenMP pool may already
    be running. CPUs the process may not use (outside its cgroup cpuset, or not there at
    all) raise ConfigError with code "bad-cpu-list", naming them.
    """
    cpus = worker_cpus(environ)
    if cpus is None:
        return None
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass  # a thread that ended meanwhile; the caller's own failure shows below
    try:
        missing = sorted(set(cpus) - os.sched_getaffinity(0))
    except OSError:
        missing = sorted(cpus)
    if missing:
        raise ConfigError(f"the CPU list has CPUs this process may not use: {_ranges(missing)}", "bad-cpu-list", _CPU_HINT)
    return cpus


# Pin before torch loads (see the module's docstring). Import this module before torch.
try:
    pin_worker()
except ValueError:
    pass  # optimize() reports bad GT_* values and CPUs with a clear error


# ---------------------------------------------------------------- inputs.py
# A model's inputs: their three forms, real samples, token inputs, inputs of an .onnx file.
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch


# ---------------------------------------------------------------- inputs
#
# A model's input takes one of three forms, here as in graviton-tune's probe (which
# calls these same functions, so what was measured is what is served):
#     a tensor                    one positional argument:   model(x)
#     a tuple or list of tensors  positional arguments:      model(*inputs)
#     a dict of tensors           keyword arguments:         model(**inputs)
# A tokenizer's output (BatchEncoding) is a mapping, so it is the third form. Every
# tensor has the batch as its first dimension.


def split_inputs(inputs: Any) -> Tuple[tuple, Dict[str, Any]]:
    """(positional args, keyword args) of one input in any of the three forms."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, (list, tuple)):
        return tuple(inputs), {}
    raise TypeError(f"a model input is a tensor, a tuple of tensors or a dict of tensors, "
                    f"not {type(inputs).__name__}")


def call_model(model: Callable, inputs: Any) -> Any:
    """model(x), model(*inputs) or model(**inputs), as the input's form says."""
    args, kwargs = split_inputs(inputs)
    return model(*args, **kwargs)


def named_tensors(inputs: Any) -> List[Tuple[str, Any]]:
    """The input's tensors in order, named: "input" (one tensor), input_0, input_1 …
    (positional) or the dict's keys."""
    args, kwargs = split_inputs(inputs)
    names = ["input"] if len(args) == 1 and not kwargs else [f"input_{i}" for i in range(len(args))]
    return list(zip(names, args)) + list(kwargs.items())


def _map_tensors(inputs: Any, fn: Callable[[Any], Any]) -> Any:
    """The same form with fn applied to each tensor."""
    if isinstance(inputs, torch.Tensor):
        return fn(inputs)
    if isinstance(inputs, Mapping):
        return {k: _map_tensors(v, fn) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return tuple(_map_tensors(v, fn) for v in inputs)
    return inputs


def batch_rows(inputs: Any) -> List[Tuple[str, Optional[int]]]:
    """(name, first dimension) of every tensor of the input (None for a 0-D tensor)."""
    return [(name, int(t.shape[0]) if isinstance(t, torch.Tensor) and t.dim() > 0 else None)
            for name, t in named_tensors(inputs)]


def rebatch(samples: Sequence[Any], batch_size: int) -> List[Any]:
    """Real samples regrouped into inputs of exactly batch_size rows (the measured shape).

    `samples` is a list of inputs of one form with any number of rows each; their rows
    are concatenated and cut into batches; a short last batch is dropped (unless it is
    the only one: then rows repeat to fill it). Tensors other than the batch dimension
    must agree (tokens: pad to one length)."""
    if not samples:
        raise ValueError("no samples")
    first = samples[0]
    names = [n for n, _ in named_tensors(first)]
    for i, sample in enumerate(samples):
        if [n for n, _ in named_tensors(sample)] != names:
            raise ValueError(f"sample {i} has the inputs {[n for n, _ in named_tensors(sample)]}, "
                             f"sample 0 has {names}: every sample must take the same form")
    columns = []
    for j, name in enumerate(names):
        parts = [named_tensors(s)[j][1] for s in samples]
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) > 1:
            raise ValueError(f"input {name!r} has different shapes across samples ({sorted(shapes)}): "
                             "pad them to one shape (tokens: padding='max_length')")
        columns.append(torch.cat(parts, dim=0))
    total = int(columns[0].shape[0])
    if total < batch_size:
        columns = [c.repeat(*([(batch_size + total - 1) // total] + [1] * (c.dim() - 1)))[:batch_size]
                   for c in columns]
        total = batch_size
    out = []
    for start in range(0, total - batch_size + 1, batch_size):
        pieces = [c[start:start + batch_size] for c in columns]
        out.append(_rebuild(first, names, pieces))
    return out


def _rebuild(form: Any, names: List[str], tensors: List[Any]) -> Any:
    if isinstance(form, torch.Tensor):
        return tensors[0]
    if isinstance(form, Mapping):
        return dict(zip(names, tensors))
    return tuple(tensors)


def load_samples(path: str) -> List[Any]:
    """Real inputs from a file: a torch.save'd list of inputs (each a tensor, tuple or
    dict of tensors, as the model takes them), or an .npz whose arrays are keyed by
    input name (one row per sample; one array: the model takes one tensor)."""
    if path.lower().endswith(".npz"):
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            arrays = {k: torch.from_numpy(np.array(data[k])) for k in data.files}
        if not arrays:
            raise ValueError(f"{path} holds no arrays")
        if len(arrays) == 1:
            return [next(iter(arrays.values()))]
        return [arrays]
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(loaded, (torch.Tensor, Mapping)):
        loaded = [loaded]
    if not isinstance(loaded, (list, tuple)) or not loaded:
        raise ValueError(f"{path} holds {type(loaded).__name__}: expected a non-empty list of inputs")
    for i, item in enumerate(loaded):
        try:
            tensors = named_tensors(item)
        except TypeError as err:
            raise ValueError(f"{path}: item {i}: {err}") from None
        if not tensors or not all(isinstance(t, torch.Tensor) for _, t in tensors):
            raise ValueError(f"{path}: item {i} is not a tensor, a tuple of tensors or a dict of tensors")
    return list(loaded)


def token_inputs(model: Any, batch_size: int, seq_len: int = 128, seed: int = 0) -> Dict[str, Any]:
    """Seeded token inputs for a Hugging Face model (or its config): input_ids inside the
    vocabulary, attention_mask of ones, and token_type_ids of zeros when the model's
    forward takes them. What graviton-tune measured a save_pretrained folder with."""
    import inspect

    config = getattr(model, "config", model)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    if vocab < 2:
        raise ValueError("the model's config has no vocab_size: give the inputs yourself")
    limit = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and limit > 0 and seq_len > limit:
        raise ValueError(f"seq_len {seq_len} is longer than the model's max_position_embeddings ({limit})")
    gen = torch.Generator().manual_seed(int(seed))
    shape = (int(batch_size), int(seq_len))
    inputs = {"input_ids": torch.randint(0, vocab, shape, generator=gen, dtype=torch.int64),
              "attention_mask": torch.ones(shape, dtype=torch.int64)}
    forward = getattr(model, "forward", None)
    params = inspect.signature(forward).parameters if forward is not None else {}
    if "token_type_ids" in params and int(getattr(config, "type_vocab_size", 0) or 0) > 0:
        inputs["token_type_ids"] = torch.zeros(shape, dtype=torch.int64)
    if "decoder_input_ids" in params and getattr(config, "is_encoder_decoder", False):
        # An encoder-decoder's forward runs its decoder too (T5 called with input_ids and
        # decoder_input_ids): a decoder sequence as long as the input, its start token first.
        start = getattr(config, "decoder_start_token_id", None)
        decoder = torch.randint(0, vocab, shape, generator=gen, dtype=torch.int64)
        decoder[:, 0] = 0 if start is None else int(start)
        inputs["decoder_input_ids"] = decoder
    return inputs


# ---------------------------------------------------------------- inputs of an .onnx file

# ONNX TensorProto element types graviton-tune can fill, as torch dtypes.
_ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64", 9: "bool"}
# Token ids without an embedding table to read the vocabulary from stay below this.
DEFAULT_TOKEN_RANGE = 100


def onnx_input_specs(path: str) -> List[Dict[str, Any]]:
    """The graph inputs of an .onnx file: name, dims (an int, or the symbol's name or None
    where the dimension is symbolic), dtype, and for integer inputs read by an embedding
    (a Gather on a weight table) the vocabulary size. BackendError when it does not load."""
    try:
        import onnx
    except ImportError:
        raise BackendError("missing-package", "reading an .onnx file needs the onnx package", PIP_ORT) from None
    try:
        graph = onnx.load(path, load_external_data=False).graph
    except Exception as err:
        raise BackendError("model-load-failed", f"{path} is not a readable ONNX model ({_short(err, 200)})",
                           "export it again with torch.onnx.export, and check it with "
                           "python -c \"import onnx; onnx.checker.check_model('MODEL.onnx')\"") from None
    tables = {init.name: list(init.dims) for init in graph.initializer}
    specs = []
    for value in graph.input:
        if value.name in tables:
            continue
        tensor = value.type.tensor_type
        dtype = _ONNX_DTYPES.get(tensor.elem_type)
        if dtype is None:
            raise BackendError("onnx-inputs", f"{path}: input {value.name!r} has element type "
                               f"{tensor.elem_type}, which graviton-tune cannot fill",
                               "give example_inputs(batch_size) in a .py factory instead")
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
                for d in tensor.shape.dim]
        vocab = None
        for node in graph.node:
            if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == value.name \
                    and tables.get(node.input[0]):
                vocab = int(tables[node.input[0]][0])
                break
        specs.append({"name": value.name, "dims": dims, "dtype": dtype, "vocab": vocab})
    if not specs:
        raise BackendError("onnx-inputs", f"{path}: the graph has no inputs to feed", None)
    return specs


def onnx_fixed_batch(specs: Sequence[Mapping[str, Any]]) -> Optional[int]:
    """The batch size the file fixes (its inputs' first dimension), or None when dynamic."""
    firsts = [spec["dims"][0] for spec in specs if spec["dims"]]
    fixed = [d for d in firsts if isinstance(d, int)]
    return fixed[0] if fixed and len(fixed) == len(firsts) else None


def _onnx_shape(spec: Mapping[str, Any], batch_size: int, seq_len: Optional[int],
                input_shape: Optional[Sequence[int]], notes: List[str]) -> List[int]:
    dims = list(spec["dims"])
    if not dims:
        return []
    shape = [int(batch_size)]
    given = list(input_shape) if input_shape is not None and len(input_shape) == len(dims) - 1 else None
    for i, dim in enumerate(dims[1:]):
        if isinstance(dim, int):
            shape.append(dim)
        elif given is not None:
            shape.append(int(given[i]))
        elif spec["dtype"] in ("int64", "int32", "bool") and i == len(dims) - 2:
            length = int(seq_len or 128)  # token models: the sequence is the last dimension
            notes.append(f"{spec['name']}: {dim or 'a symbolic dimension'} = {length} tokens"
                         + ("" if seq_len else " (--seq-len to change)"))
            shape.append(length)
        else:
            per_sample = ",".join(str(d) if isinstance(d, int) else "N" for d in dims[1:])
            raise BackendError(
                "needs-input-shape",
                f"input {spec['name']!r} has a symbolic dimension {dim or '?'} ({per_sample} per sample) "
                "that cannot be guessed",
                f"give the per-sample shape of {spec['name']!r} with --input-shape, e.g. --input-shape "
                + ",".join(str(d) if isinstance(d, int) else "224" for d in dims[1:]))
    return shape


def onnx_inputs(path: str, batch_size: int, seq_len: Optional[int] = None,
                input_shape: Optional[Sequence[int]] = None, seed: int = 0,
                notes: Optional[List[str]] = None) -> Dict[str, Any]:
    """Seeded inputs for an .onnx file, keyed by its input names, as graviton-tune measured
    it: float inputs from a normal distribution; integer ids inside the vocabulary of the
    embedding that reads them (else below DEFAULT_TOKEN_RANGE), attention masks of ones,
    token type ids of zeros. Symbolic dimensions: the batch is batch_size, the last one
    of an integer input is seq_len tokens (default 128), the others come from
    input_shape (per sample, without the batch) or raise BackendError naming the input."""
    gen = torch.Generator().manual_seed(int(seed))
    said = [] if notes is None else notes
    out: Dict[str, Any] = {}
    for spec in onnx_input_specs(path):
        shape = _onnx_shape(spec, batch_size, seq_len, input_shape, said)
        dtype = getattr(torch, spec["dtype"])
        name = spec["name"].lower()
        if spec["dtype"] == "bool" or "mask" in name:
            out[spec["name"]] = torch.ones(shape, dtype=dtype)
        elif not dtype.is_floating_point:
            high = 2 if "type" in name else (spec["vocab"] or DEFAULT_TOKEN_RANGE)
            out[spec["name"]] = torch.zeros(shape, dtype=dtype) if "type" in name else \
                torch.randint(0, high, shape, generator=gen, dtype=dtype)
        else:
            out[spec["name"]] = torch.randn(shape, generator=gen, dtype=torch.float32).to(dtype)
    return out


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def pretrained_class(config: Any) -> Tuple[Any, str]:
    """The transformers class a save_pretrained folder was written from: config.architectures
    names it (T5EncoderModel, T5ForConditionalGeneration, LlamaForCausalLM …), and
    transformers exports it by that name (its pipelines load models the same way). Without
    the name, or with one transformers does not have (remote code), AutoModel: the base
    model for the config's model_type. Returns (class, how it was chosen)."""
    transformers = _require("transformers", "pip install transformers", "transformers")
    names = list(getattr(config, "architectures", None) or [])
    for name in names:
        cls = getattr(transformers, name, None)
        if isinstance(cls, type):
            return cls, f"{name} (config.architectures)"
    why = (f"config.architectures names {', '.join(names)}, which this transformers does not have"
           if names else "config.json names no architecture")
    return transformers.AutoModel, f"AutoModel for {config.model_type} ({why}: the base model, no task head)"


def load_pretrained(folder: str, log: Optional[Log] = None) -> Any:
    """A save_pretrained folder as graviton-tune measured it: the class named in
    config.architectures (pretrained_class), with the folder's weights when it has them,
    else a random initialisation from config.json; either way said through `log`, as are
    weights the class has and the folder lacks (initialised at random). Never touches the
    network. In your own code, from_pretrained with the same class gives the same model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    transformers = _require("transformers", "pip install transformers", "transformers")
    say = log or (lambda message, level="info": None)
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    cls, chosen = pretrained_class(config)
    if any(os.path.exists(os.path.join(folder, name)) for name in WEIGHT_FILES):
        model, info = cls.from_pretrained(folder, local_files_only=True, output_loading_info=True)
        say(f"{chosen} with the folder's weights")
        missing = sorted(info.get("missing_keys") or [])
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            say(f"{len(missing)} weight(s) of {type(model).__name__} are not in the folder and were initialised "
                f"at random: {shown}", level="warning")
    else:
        model = cls.from_config(config) if cls is transformers.AutoModel else cls(config)
        say(f"{chosen}: the folder has no weights ({', '.join(WEIGHT_FILES[::2])}), so the weights are a random "
            "initialisation from config.json: speed is the same, the outputs are not the trained model's",
            level="warning")
    return model.eval()


class _Flat(torch.nn.Module):
    """The model with its inputs as one flat row of positional tensors (named_tensors'
    order): the form the ONNX exporter and OpenVINO's converter take."""

    def __init__(self, model: Any, example: Any):
        super().__init__()
        self.model = model
        args, kwargs = split_inputs(example)
        self.positional = len(args)
        self.keywords = list(kwargs)

    def forward(self, *flat: Any) -> Any:
        return self.model(*flat[:self.positional], **dict(zip(self.keywords, flat[self.positional:])))


def _flat_tensors(args: tuple, kwargs: Mapping[str, Any], keywords: Sequence[str]) -> List[Any]:
    if not kwargs:
        return list(args)
    return list(args) + [kwargs[k] for k in keywords]


# ---------------------------------------------------------------- generation.py
# Generation: language models measured and served the way they are used, in tokens.
#
# A causal LM (LlamaForCausalLM, GPT2LMHeadModel, Qwen2ForCausalLM …) or a seq2seq LM
# (T5ForConditionalGeneration, BartForConditionalGeneration, MarianMTModel …) is served by
# generating: greedy, from fixed prompts, a fixed number of new tokens (the end-of-sequence
# token ignored, so every call does the same work). graviton-tune measures it with these
# functions and the deployed helper's OptimizedModel.generate() runs it the same way:
#
#     model = optimize(AutoModelForCausalLM.from_pretrained(folder), prompt)
#     tokens = model.generate(**prompt, **greedy_settings(model, new_tokens=64))
#
# The timing is taken from inside generate() (a streamer sees each token as it is made):
# the first token (prefill: the whole prompt through the model) and the following ones
# (decode: one token per sequence per step) apart.
import time
from typing import Any, Dict, List, Optional

import torch

# The first tokens of the greedy-token check: sequences identical over this many new tokens.
CHECK_TOKENS = 32


def can_generate(model: Any) -> bool:
    """A Hugging Face model with a language-model head that generate() drives."""
    check = getattr(model, "can_generate", None)
    try:
        return bool(callable(check) and check())
    except Exception:  # noqa: BLE001 - a model that cannot say cannot generate
        return False


def is_encoder_decoder(model: Any) -> bool:
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))


def prompt_inputs(model: Any, batch_size: int, prompt_len: int, seed: int = 0) -> Dict[str, torch.Tensor]:
    """Seeded prompts: batch_size sequences of prompt_len token ids inside the vocabulary
    (special ids left out, so no prompt ends early), with an attention mask of ones."""
    config = getattr(model, "config", model)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    if vocab < 2:
        raise ValueError("the model's config has no vocab_size: give the prompts yourself")
    special = {getattr(config, name, None) for name in ("pad_token_id", "eos_token_id", "bos_token_id",
                                                         "decoder_start_token_id")}
    low = 1 + max([s for s in special if isinstance(s, int) and s < 8] or [-1])
    gen = torch.Generator().manual_seed(int(seed))
    shape = (int(batch_size), int(prompt_len))
    ids = torch.randint(low, vocab, shape, generator=gen, dtype=torch.int64)
    return {"input_ids": ids, "attention_mask": torch.ones(shape, dtype=torch.int64)}


def max_positions(model: Any) -> Optional[int]:
    """The longest sequence the model takes (prompt plus new tokens for a causal LM), when it says."""
    config = getattr(model, "config", model)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def greedy_settings(model: Any, new_tokens: int) -> Dict[str, Any]:
    """generate() keyword arguments for the measured work: greedy, exactly new_tokens new tokens.
    `model` is the Hugging Face model or what optimize() returned for it."""
    config = getattr(getattr(model, "module", model), "config", None)
    pad = getattr(config, "pad_token_id", None)
    if pad is None:
        eos = getattr(config, "eos_token_id", None)
        pad = eos[0] if isinstance(eos, (list, tuple)) and eos else (eos if isinstance(eos, int) else 0)
    return {"do_sample": False, "num_beams": 1, "max_new_tokens": int(new_tokens), "min_new_tokens": int(new_tokens),
            "pad_token_id": pad, "use_cache": True}


class TokenClock:
    """A generate() streamer that notes when each step's tokens come out.

    generate() hands the streamer the prompt (or the decoder's start token) first, then
    each new token of every sequence: `times[0]` is the first new token (the end of the
    prefill), `times[i]` the (i+1)-th."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.times: List[float] = []
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass

    def timing(self) -> Dict[str, Any]:
        """ttft (s), the gaps between tokens (s), decode seconds (first to last token), total seconds."""
        times = self.times
        if not times:
            return {"ttft": float("nan"), "gaps": [], "decode": 0.0, "total": 0.0}
        gaps = [b - a for a, b in zip(times, times[1:])]
        return {"ttft": times[0] - self.started, "gaps": gaps, "decode": times[-1] - times[0],
                "total": times[-1] - self.started}


def generate_timed(generate: Any, inputs: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, Any]:
    """One generate() call with its timing: {"tokens": the new tokens [batch, n], **TokenClock.timing()}."""
    clock = TokenClock()
    sequences = generate(**inputs, **settings, streamer=clock)
    # Exactly max_new_tokens were made: the last ones (after the prompt of a causal LM, or
    # the start token of an encoder-decoder's decoder).
    return {"tokens": sequences[:, -int(settings["max_new_tokens"]):], **clock.timing()}


def generate_checked(generate: Any, inputs: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """One generate() call that also keeps the first step's logits (the prefill's output, [batch,
    vocab], float32): what the greedy-token check compares. The same call as the measured ones
    (same shapes, so a compiled step is not compiled again)."""
    out = generate(**inputs, **settings, output_logits=True, return_dict_in_generate=True)
    return {"tokens": out.sequences[:, -int(settings["max_new_tokens"]):], "logits": out.logits[0].detach().float()}


def compare_tokens(reference: torch.Tensor, tokens: torch.Tensor, first: int = CHECK_TOKENS) -> Dict[str, Any]:
    """Greedy tokens against the fp32 eager ones: sequences identical over the first `first`
    new tokens, and the earliest position where any sequence differs (None: none does)."""
    n = min(first, reference.shape[1], tokens.shape[1])
    same = reference[:, :n] == tokens[:, :n]
    identical = int(same.all(dim=1).sum())
    differing = (~same).any(dim=0).nonzero()
    return {"compared": n, "sequences": int(reference.shape[0]), "identical": identical,
            "firstDivergence": int(differing[0]) if differing.numel() else None}


# ---------------------------------------------------------------- common.py
# What the backends share: their options mapping, calibration inputs, layouts, inductor guards.
import re
from typing import Any, List, Mapping, Optional, Tuple

import torch


# ---------------------------------------------------------------- backends
#
# prepare_int8, prepare_onnxruntime and prepare_openvino are what graviton-tune's probe
# measures with (through optimize(); the tests' backend_adapter calls them one at a time), so
# what was measured is what optimize() serves. Each takes a plain options mapping, the
# keys of settings() (missing ones take their defaults) plus "seed":
#     threads         intra-op threads (default: torch.get_num_threads())
#     autocast        "bf16" or none;  fp32_precision  "bf16" or none
#     quantization    "int8" or none;  channels_last   bool
#     seed            int, seeds the calibration batches (default 0)
#     calibration     optional list of real inputs (tensors, or tuples of them) to
#                     calibrate int8 on, instead of the example plus seeded batches
#     cache_dir       optional folder where OpenVINO keeps the converted (and quantized)
#                     model, keyed by all it depends on, to read it back next time
# and two optional callbacks: log(message, level="info"|"warning") for every choice worth
# knowing, phase(name) when a stage begins ("export", "quantize", "compile").

# Lowest torch for the int8 route: torch.export with pre-dispatch graphs and inductor's
# oneDNN int8 lowerings (the PT2E tutorials start at 2.5 for the x86 path).
MIN_TORCH_INT8 = (2, 5)
CALIBRATION_BATCHES = 4


def _threads(options: Optional[Mapping[str, Any]]) -> int:
    value = _opt(options, "threads")
    if isinstance(value, int) and value > 0:
        return value
    return max(1, torch.get_num_threads())


def _bf16_requested(options: Optional[Mapping[str, Any]]) -> bool:
    return _opt(options, "autocast") == "bf16" or _opt(options, "fp32_precision") == "bf16"


def _int8_requested(options: Optional[Mapping[str, Any]]) -> bool:
    return _opt(options, "quantization") == "int8"


def _first_tensor(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict) or hasattr(out, "values"):
        for value in out.values():
            found = _first_tensor(value)
            if found is not None:
                return found
        return None
    if isinstance(out, (list, tuple)):
        for value in out:
            found = _first_tensor(value)
            if found is not None:
                return found
    return None


def _seeded_like(example: Any, gen: "torch.Generator") -> Any:
    """A seeded input like `example`. Float: standard normal. Integer (token ids): uniform in
    [0, max(example)]; a constant integer tensor (an attention mask of ones) stays as it is."""
    if not isinstance(example, torch.Tensor):
        return example
    if example.is_floating_point():
        return torch.randn(example.shape, generator=gen, dtype=torch.float32).to(example.dtype)
    if example.numel() == 0 or bool((example == example.flatten()[0]).all()):
        return example.clone()
    high = max(int(example.max().item()) + 1, 2)
    return torch.randint(0, high, tuple(example.shape), generator=gen, dtype=example.dtype)


def _calibration_inputs(example: Any, count: int, seed: int) -> List[Any]:
    """The example itself plus `count` seeded inputs of the same shape and dtype.

    `example` is in any input form (see split_inputs); the samples take the same form.
    The seeded inputs only stand in for real data: see `calibration`.
    """
    gen = torch.Generator().manual_seed(int(seed) + 1234)
    out = [example]
    for _ in range(count):
        out.append(_map_tensors(example, lambda a: _seeded_like(a, gen)))
    return out


def _calibration_samples(example: Any, options: Optional[Mapping[str, Any]]) -> List[Any]:
    given = _opt(options, "calibration")
    if given is not None:
        samples = list(given)
        if not samples:
            raise BackendError("quantize-failed", "the calibration data is empty",
                               "pass a few real input batches, or none to calibrate on seeded ones")
        return samples
    return _calibration_inputs(example, CALIBRATION_BATCHES, int(_opt(options, "seed", 0)))


def _calibration_label(options: Optional[Mapping[str, Any]], count: int) -> str:
    return (f"{count} given calibration batches" if _opt(options, "calibration") is not None
            else f"{count} seeded calibration batches")


def _torch_version() -> Tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _one_or_many(example: Any, backend: str) -> Any:
    """The example as the ONNX and OpenVINO routes take it: one tensor stays a tensor (a
    one-element tuple becomes it); a tuple or dict of several tensors stays as it is."""
    if isinstance(example, (list, tuple)) and len(example) == 1:
        example = example[0]
    try:
        tensors = named_tensors(example)
    except TypeError:
        tensors = []
    if not tensors or not all(isinstance(t, torch.Tensor) for _, t in tensors):
        raise BackendError(
            "onnx-inputs",
            f"{backend} needs an example input of tensors (a tensor, a tuple or a dict of tensors); "
            f"the example is {type(example).__name__}",
            "pass example_input as the model takes it, e.g. optimize(model, tokenizer(..., return_tensors='pt'))",
        )
    return example


def _guard_inductor(say: Log) -> None:
    """Inductor settings that avoid known Arm hazards (called before every compile).

    With SVE (Graviton3/4) GCC 12 (Debian 12, Ubuntu 22.04) crashed with an internal
    compiler error while building inductor's precompiled header for the SVE 256 kernels;
    without the precompiled header the same kernels compile. Only compile time changes.
    """
    if not (_is_arm64() and "sve" in _cpu_features()):
        return
    import torch._inductor.config as inductor_config

    if getattr(inductor_config, "cpp_cache_precompile_headers", False):
        inductor_config.cpp_cache_precompile_headers = False
        say("torch.compile: inductor's precompiled header is off on this SVE CPU "
            "(GCC 12 crashes building it for SVE; only compile time changes)")


def _is_image(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 4 and value.is_floating_point()


def _images_channels_last(inputs: Any) -> Any:
    """The input in the same form, its 4-D float tensors (images) in channels_last."""
    return _map_tensors(inputs, lambda a: a.contiguous(memory_format=torch.channels_last) if _is_image(a) else a)


# ---------------------------------------------------------------- torch_eager.py
# PyTorch eager: the model in the chosen memory format, under bf16 autocast when chosen,
# and OptimizedModel, the callable every backend is served through.
from typing import Any, Callable, Dict

import torch


class _Forward(torch.nn.Module):
    """What runs per call: image inputs (4-D float tensors) in channels_last when chosen,
    under bf16 autocast when chosen. torch.compile compiles this wrapper, so the layout
    change and autocast are part of the compiled graph.

    An input already in channels_last passes through untouched (contiguous() on a tensor
    in the requested format is a no-op): an app whose data path produces channels_last
    batches (prepare_input) saves the conversion; one that does not pays it on every
    call, and so did the measurement."""

    def __init__(self, model: Callable, channels_last: bool, autocast: bool):
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.autocast = autocast

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.channels_last:
            args, kwargs = _images_channels_last(args), _images_channels_last(kwargs)
        if self.autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.model(*args, **kwargs)
        return self.model(*args, **kwargs)


def eager(model: Any, cfg: Dict[str, Any]) -> _Forward:
    """The eager model as chosen: channels_last weights and inputs, bf16 autocast."""
    if cfg["channels_last"] and isinstance(model, torch.nn.Module):
        model = model.to(memory_format=torch.channels_last)
    return _Forward(model, cfg["channels_last"], cfg["autocast"] == "bf16")


class OptimizedModel:
    """The optimized model: call it like the original one. Gradients are off.

    Each call runs in the grad mode its backend was measured in: compiled graphs (torch.compile,
    int8) under no_grad, as inductor's freezing expects; eager under inference_mode, which is
    cheaper still; ONNX Runtime and OpenVINO without autograd at all. graviton-tune's probe
    times calls of this object, so these choices are the measured ones."""

    def __init__(self, forward: Callable, module: Any, cfg: Dict[str, Any], compiled: bool, generation: bool = False):
        self._forward = forward
        # The module's own step compiled for generate() (compile_generation): generate() runs compiled.
        self.generation = generation
        self.runner = forward  # what each call runs (ONNX Runtime: .session; OpenVINO: .compiled_model)
        self.module = module
        self.settings = cfg
        self.compiled = compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.settings.get("backend", "torch") != "torch":
            return self._forward(*args, **kwargs)
        context = torch.no_grad() if self.compiled else torch.inference_mode()
        with context:
            return self._forward(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """The module's own generate() (a Hugging Face language model), run as measured: in the
        grad mode and under the bf16 autocast of this configuration (fp32 math in bf16 and the
        threads are set for the process already). graviton-tune measured generation greedy,
        with greedy_settings(model, new_tokens); pass your own settings the same way."""
        generate = getattr(self.module, "generate", None)
        if not callable(generate):
            raise TypeError(f"{type(self.module).__name__} has no generate(): call the model instead")
        if self.settings.get("backend", "torch") != "torch" or (self.compiled and not self.generation):
            chosen = "compile" if self.compiled else self.settings.get("backend")
            raise BackendError("generate-unsupported", f"generation is served on PyTorch eager only, not with {chosen}",
                               "unset GT_COMPILE / GT_QUANTIZATION / GT_BACKEND for a generating model")
        # Compiled with freezing: no_grad, as inductor's freezing expects; eager: inference_mode.
        with torch.no_grad() if self.compiled else torch.inference_mode():
            if self.settings.get("autocast") == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return generate(*args, **kwargs)
            return generate(*args, **kwargs)

    def prepare_input(self, inputs: Any) -> Any:
        """The input in the layout this model computes in (channels_last images when chosen):
        for an app's data path that can convert once, e.g. while batching. Calling the model
        with the original layout gives the same result, converting on every call."""
        if self.settings.get("channels_last") and self.settings.get("backend", "torch") == "torch":
            return _images_channels_last(inputs)
        return inputs

    def __repr__(self) -> str:
        defaults = {"channels_last": False, "autocast": "none", "fp32_precision": "none", "compile": False,
                    "quantization": "none", "weight_quantization": "none", "backend": "torch"}
        chosen = {k: v for k, v in self.settings.items() if k in defaults and v != defaults[k]}
        return f"OptimizedModel({type(self.module).__name__}, {chosen})"


# ---------------------------------------------------------------- weights.py
# Quantized weights (GT_WEIGHT_QUANTIZATION): torchao's quantize_() on the Linear layers.
#
# A language model's decode step reads every weight once per token, so its speed follows
# the bytes of the weights: int8 weights move a quarter of fp32's, int4 an eighth. The
# model stays an eager PyTorch module (generate() works as before); only the Linear
# layers' weights change:
#     int8          Int8WeightOnlyConfig: int8 weights, one scale per output channel
#     int8-dynamic  Int8DynamicActivationInt8WeightConfig: int8 weights and activations
#                   quantized per token at run time (int8 matmuls)
#     int4          int4 weights in groups of 128, 64 or 32 inputs (the largest that divides
#                   every layer), else per channel. Where torch has the KleidiAI kernels
#                   (torch.backends.kleidiai: Arm builds) they run it: the weights packed for
#                   aten._dyn_quant_matmul_4bit, activations quantized to int8 per token at
#                   run time (torchao's Int8DynamicActivationIntxWeightConfig, packing
#                   "opaque_aten_kleidiai"); elsewhere IntxWeightOnlyConfig(int4), weight-only
# Whether any of them is faster depends on the kernels torchao has for this CPU and torch:
# graviton-tune measures it, and the greedy-token check decides whether the answers hold.
from typing import Any, Optional

import torch


WEIGHT_KINDS = ("int8", "int8-dynamic", "int4")
INT4_GROUPS = (128, 64, 32)


def _linears(model: Any) -> list:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def int4_group(model: Any) -> Optional[int]:
    """The largest group size that divides every Linear layer's inputs (None: per channel)."""
    sizes = {m.in_features for m in _linears(model)}
    return next((g for g in INT4_GROUPS if sizes and all(n % g == 0 for n in sizes)), None)


def quantize_weights(model: Any, kind: str, log: Log) -> Any:
    """The model with its Linear layers' weights quantized as `kind` (in place); BackendError
    when torchao is missing or refuses the model."""
    if kind not in WEIGHT_KINDS:
        raise BackendError("quantize-failed", f"unknown weight quantization {kind!r}",
                           f"GT_WEIGHT_QUANTIZATION is one of {', '.join(WEIGHT_KINDS)}")
    if not isinstance(model, torch.nn.Module) or not _linears(model):
        raise BackendError("quantize-failed", "weight quantization needs a torch.nn.Module with Linear layers",
                           "unset GT_WEIGHT_QUANTIZATION for this model")
    try:
        from torchao.quantization import (Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig,
                                          IntxWeightOnlyConfig, quantize_)
        from torchao.quantization.granularity import PerAxis, PerGroup
    except ImportError as err:
        raise BackendError("missing-package", f"GT_WEIGHT_QUANTIZATION={kind} needs torchao ({_short(err, 120)})",
                           PIP_TORCHAO) from None
    if kind == "int8":
        config, words = Int8WeightOnlyConfig(), "int8 weights (weight-only, per output channel)"
    elif kind == "int8-dynamic":
        config, words = Int8DynamicActivationInt8WeightConfig(), "int8 weights with int8 dynamic activations"
    else:
        group = int4_group(model)
        granularity = PerGroup(group) if group else PerAxis(0)
        grouping = f"groups of {group}" if group else "per output channel"
        if kleidiai_available() and _quantize_kleidiai(model, granularity, log):
            log(f"int4 weights ({grouping}) via KleidiAI, int8 dynamic activations: {len(_linears(model))} Linear "
                "layers (torchao quantize_, packing opaque_aten_kleidiai)")
            _say_conv1d(model, log)
            return model
        config = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=granularity)
        words = f"int4 weights ({grouping}, weight-only)"
    try:
        quantize_(model, config)
    except Exception as err:  # torchao's own refusal (a shape, a dtype): the step fails with its words
        raise BackendError("quantize-failed", f"torchao could not quantize the weights to {kind}: "
                           f"{type(err).__name__}: {_short(err, 200)}",
                           "this model or torchao version does not take it; unset GT_WEIGHT_QUANTIZATION") from None
    log(f"{words}: {len(_linears(model))} Linear layers (torchao quantize_)")
    _say_conv1d(model, log)
    return model


def kleidiai_available() -> bool:
    """Whether this torch has the KleidiAI int4 kernels (Arm builds from torch 2.6)."""
    backend = getattr(torch.backends, "kleidiai", None)
    return bool(backend is not None and backend.is_available() and hasattr(torch.ops.aten, "_dyn_quant_matmul_4bit"))


def _quantize_kleidiai(model: Any, granularity: Any, log: Log) -> bool:
    """int4 weights packed for KleidiAI's kernels; False (the model untouched) where this
    torchao has no such packing, so the weight-only path runs instead."""
    try:
        from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
        from torchao.quantization.quant_primitives import MappingType
        config = Int8DynamicActivationIntxWeightConfig(
            weight_dtype=torch.int4, weight_granularity=granularity, weight_mapping_type=MappingType.SYMMETRIC,
            intx_packing_format="opaque_aten_kleidiai")
    except (ImportError, TypeError, ValueError, AssertionError) as err:
        log(f"KleidiAI int4 not offered by this torchao ({_short(err, 120)}): int4 weight-only instead", "warning")
        return False
    try:  # layer by layer, in place (a copy would double the weights' memory): a refusal fails the step
        quantize_(model, config)
    except Exception as err:
        raise BackendError("quantize-failed", f"torchao could not pack the int4 weights for KleidiAI: "
                           f"{type(err).__name__}: {_short(err, 200)}",
                           "this model or torchao version does not take it; unset GT_WEIGHT_QUANTIZATION") from None
    # aten._dyn_quant_matmul_4bit reads the input's rows as if packed: torchao (0.15 to 0.18) hands it
    # input.reshape(-1, k), which for a strided view (generate()'s last-position slice before the LM
    # head) keeps the stride, and every row after the first is read from the wrong place (found by the
    # greedy-token check under emulated Graviton3: cosine 0.015 on the second sequence). Each layer's
    # input is made contiguous first; a no-op where it already is.
    for layer in _linears(model):
        layer.register_forward_pre_hook(_contiguous_input)
    return True


def _contiguous_input(_module: Any, args: tuple) -> Optional[tuple]:
    if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
        return (args[0].contiguous(), *args[1:])
    return None


def _say_conv1d(model: Any, log: Log) -> None:
    conv1d = [m for m in model.modules() if type(m).__name__ == "Conv1D"]
    if conv1d:  # GPT-2's linear layers are transformers' Conv1D, which quantize_() does not take
        log(f"{len(conv1d)} Conv1D layers (GPT-2 style) stay in floating point: torchao quantizes nn.Linear only",
            "warning")


# ---------------------------------------------------------------- compile.py
# torch.compile (inductor) with freezing and weight prepacking.
from typing import Any, Callable

import torch


def compile_model(forward: torch.nn.Module, say: Log) -> Callable:
    """inductor with freezing (weights folded into constants) and weight prepacking (done once)."""
    import torch._inductor.config as inductor_config

    _guard_inductor(say)
    inductor_config.freezing = True
    inductor_config.cpp.weight_prepack = True
    return torch.compile(forward, backend="inductor")


def compile_generation(model: Any, say: Log) -> Any:
    """A language model's step compiled for generate(): a static KV cache (its tensors keep one
    shape from step to step, so one compiled graph serves every decode step) and the model's
    forward compiled by inductor with freezing and weight prepacking. generate() then calls the
    compiled forward for the prefill and each decode step; the first call compiles (tens of
    seconds), and so does a new batch size or length (prompt + new tokens)."""
    import torch._inductor.config as inductor_config

    _guard_inductor(say)
    inductor_config.freezing = True
    inductor_config.cpp.weight_prepack = True
    model.generation_config.cache_implementation = "static"
    model.forward = torch.compile(model.forward, backend="inductor", dynamic=False)
    say("generate(): a static KV cache and the forward compiled by inductor (freezing, weight prepack); "
        "the first call of each batch size and length compiles")
    return model


def first_compiled_call(call: Callable[[], Any]) -> Any:
    """The first call of a compiled model, where inductor compiles: its failure as BackendError."""
    try:
        return call()
    except BackendError:
        raise
    except MemoryError:
        raise
    except Exception as err:
        raise BackendError(
            "compile-failed",
            f"compiling the model failed: {_short(err)}",
            "this configuration does not work for this model; TORCH_LOGS=+inductor shows the details",
        ) from None


# ---------------------------------------------------------------- pt2e.py
# int8 through PT2E (torch.export, the CPU's inductor quantizer, inductor with freezing).
import contextlib
import importlib
import platform
from typing import Any, Callable, Mapping, Optional, Tuple

import torch


def _split_shared_module_calls(graph) -> None:
    """Give each call of a shared module its own source partition.

    Models often reuse one module instance at several places (torchvision's ResNet
    blocks call the same ``self.relu`` three times). torch.export records every call
    under the module's one name (the innermost ``nn_module_stack`` entry, which the
    quantizer's source partitions fall back on), so the calls merge into one partition
    with several outputs and X86InductorQuantizer fails with "Input partition has more
    than one output node". Where such a group is made of several nodes of the same op
    (one per call), each call is renamed apart; a group of different ops (one call
    that decomposed into several nodes) is left alone.
    """
    groups = {}
    for node in graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if node.op != "call_function" or not stack or node.meta.get("source_fn_stack"):
            continue
        # Each call has its own key ("…relu", "…relu@1") but the same module path.
        groups.setdefault(list(stack.values())[-1][0], []).append(node)
    for fqn, nodes in groups.items():
        if len(nodes) < 2 or len({n.target for n in nodes}) != 1:
            continue
        for i, node in enumerate(nodes):
            stack = dict(node.meta["nn_module_stack"])
            key = list(stack.keys())[-1]
            stack[key] = (f"{fqn}__call{i}", stack[key][1])
            node.meta["nn_module_stack"] = stack


def tidy_for_quantization(exported: "torch.fx.GraphModule") -> None:
    """Make an exported graph digestible for the PT2E quantizers, in place.

    Unused branches go (a BERT pooler whose output nobody reads: a dead Linear -> Tanh
    makes the quantizer's fusion annotation fail), and calls of a shared module are
    split into partitions of their own. graviton-tune's probe uses this same function,
    so what was measured is what this helper serves.
    """
    exported.graph.eliminate_dead_code()
    _split_shared_module_calls(exported.graph)
    exported.recompile()


def _pt2e_api(say: Log) -> Tuple[Callable, Callable, Any, str]:
    """(prepare_pt2e, convert_pt2e, quantizer, description) for this CPU."""
    if not (_is_x86() or _is_arm64()):
        raise BackendError(
            "int8-unsupported",
            f"no PT2E int8 quantizer for this CPU architecture ({platform.machine()})",
            "int8 via PT2E needs an x86_64 or aarch64 CPU; measure the other recipes instead",
        )
    try:
        importlib.import_module("torchao")
        qp = importlib.import_module("torchao.quantization.pt2e.quantize_pt2e")
        base = "torchao.quantization.pt2e.quantizer"
        source = "torchao"
    except ImportError as err:
        torchao_err = err
        try:  # torch <= 2.9 still ships its own copy
            qp = importlib.import_module("torch.ao.quantization.quantize_pt2e")
            base = "torch.ao.quantization.quantizer"
            source = "torch.ao (deprecated)"
        except ImportError:
            raise BackendError(
                "missing-package",
                f"int8 through PT2E needs torchao, which is not importable ({_short(torchao_err)})",
                PIP_TORCHAO,
            ) from None

    if _is_x86():
        mod = importlib.import_module(f"{base}.x86_inductor_quantizer")
        quantizer = mod.X86InductorQuantizer()
        quantizer.set_global(mod.get_default_x86_inductor_quantization_config())
        name = "X86InductorQuantizer"
    else:
        try:
            mod = importlib.import_module(f"{base}.arm_inductor_quantizer")
        except ImportError:
            raise BackendError(
                "int8-unsupported",
                f"this {source} has no Arm inductor quantizer for aarch64",
                "pip install --upgrade torchao",
            ) from None
        quantizer = mod.ArmInductorQuantizer()
        quantizer.set_global(mod.get_default_arm_inductor_quantization_config())
        name = "ArmInductorQuantizer"
    say(f"int8: PT2E from {source} with {name} (static, per-tensor activations)")
    return qp.prepare_pt2e, qp.convert_pt2e, quantizer, name


def _require_cpp_compiler() -> None:
    try:
        from torch._inductor import cpp_builder

        cpp_builder.get_cpp_compiler()
    except ImportError:
        return  # an unusual torch build: let the first call tell
    except Exception as err:
        raise BackendError(
            "compiler-missing",
            f"torch.compile (needed by int8) found no working C++ compiler ({_short(err, 200)})",
            "sudo dnf install -y gcc-c++  (Amazon Linux, Fedora)  or  "
            "sudo apt-get install -y g++  (Debian, Ubuntu); or set CXX",
        ) from None


def _export_for_pt2e(model: Any, args: tuple, kwargs: Mapping[str, Any], say: Log) -> Tuple[Any, bool]:
    """torch.export for PT2E: (graph module, whether the export was strict).

    On aarch64 the export is strict: with the default non-strict export,
    ArmInductorQuantizer annotated nothing (seen under emulation with torch 2.9.1: no
    quantize/dequantize nodes, plain fp32 outputs), while a strict export got its q/dq
    pairs. A model strict export cannot capture falls back to non-strict; the
    quantize-node check after convert then tells whether anything was quantized.
    """
    attempts = [True, False] if _is_arm64() else [False]
    failure: Optional[BaseException] = None
    for strict in attempts:
        try:
            with torch.no_grad():
                exported = torch.export.export(model, args, kwargs or None, strict=strict).module()
            tidy_for_quantization(exported)
        except Exception as err:
            failure = err
            if strict:
                say(f"int8: strict torch.export failed ({_short(err, 200)}); trying non-strict", "warning")
            continue
        return exported, strict
    raise BackendError(
        "export-failed",
        f"torch.export could not capture the model for int8 ({_short(failure) if failure else 'unknown error'})",
        "int8 through PT2E needs a model torch.export can trace (no data-dependent "
        "Python control flow); skip int8 for this model",
    ) from None


def quantize_nodes(graph_module: Any) -> Tuple[int, int]:
    """(quantize, dequantize) call counts in a converted PT2E graph."""
    quantize = dequantize = 0
    for node in graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        name = str(node.target)
        if "dequantize" in name:
            dequantize += 1
        elif "quantize" in name:
            quantize += 1
    return quantize, dequantize


def prepare_int8(model: Any, example: Any, options: Optional[Mapping[str, Any]] = None,
                 log: Optional[Log] = None, phase: Optional[Phase] = None) -> Callable[..., Any]:
    """int8 through PT2E + inductor; returns a callable taking the model's arguments as the
    example does (positional, keyword, or both).

    torch.export -> PT2E prepare with the CPU's inductor quantizer (torchao's
    X86InductorQuantizer on x86_64, ArmInductorQuantizer on aarch64) -> calibration
    (the example plus CALIBRATION_BATCHES seeded inputs, or options["calibration"]) ->
    convert -> torch.compile(inductor) with freezing on (the quantized conv/linear
    patterns are fused into oneDNN int8 kernels only by inductor's freezing passes).
    Freezing is patched in around each call: torch.compile(options={"freezing": True})
    fails on torch 2.13 (qconv_prepack left unfolded), and a global setting would leak
    into other compiles in the process. The exported graph is specialised to the
    example's shape: the callable takes inputs of that shape only. torch >= 2.10 ships
    PT2E only inside torchao; older torch's torch.ao copy is used when torchao is absent.
    autocast "bf16" gives int8-mixed-bf16. channels_last applies to 4-D float inputs (the
    model is left as it is: inductor picks the int8 weight layouts itself).

    The callable returns what the model returns (bf16 parts under autocast). Compilation
    happens on its first call (BackendError compile-failed if that fails): warm it up.
    """
    say, step = _hooks(log, phase)
    if _torch_version() < MIN_TORCH_INT8:
        raise BackendError(
            "torch-too-old",
            f"int8 through PT2E needs torch >= {'.'.join(map(str, MIN_TORCH_INT8))}; "
            f"this is torch {torch.__version__}",
            "pip install --upgrade torch torchao",
        )
    prepare_pt2e, convert_pt2e, quantizer, quantizer_name = _pt2e_api(say)
    _require_cpp_compiler()
    _guard_inductor(say)

    model = model.eval()
    channels_last = bool(_opt(options, "channels_last", False))
    if channels_last and not any(_is_image(t) for _, t in named_tensors(example)):
        say("channelsLast ignored for int8: the input is not a 4-D float tensor")
        channels_last = False
    if channels_last:  # the inputs only: the caller's model is left as it is
        example = _images_channels_last(example)
        say("int8: channels_last input (inductor picks the int8 conv weight layout itself)")
    args, kwargs = split_inputs(example)

    step("export")
    exported, strict = _export_for_pt2e(model, args, kwargs, say)

    step("quantize")
    try:
        prepared = prepare_pt2e(exported, quantizer)
        samples = _calibration_samples(example, options)
        with torch.no_grad():
            for sample in samples:
                call_model(prepared, _images_channels_last(sample) if channels_last else sample)
        converted = convert_pt2e(prepared)
    except BackendError:
        raise
    except Exception as err:
        raise BackendError(
            "quantize-failed",
            f"PT2E int8 quantization failed ({_short(err)})",
            "skip int8 for this model, or try a newer torchao: pip install --upgrade torchao",
        ) from None
    quantize, dequantize = quantize_nodes(converted)
    if quantize == 0:
        # A silent no-op would pass the speed probe and the output check unnoticed.
        raise BackendError(
            "int8-nothing-quantized",
            f"PT2E int8 quantized nothing: {quantizer_name} annotated no operator of this model "
            f"({'strict' if strict else 'non-strict'} torch.export), so the graph stayed fp32",
            "skip int8 for this model; with your own model, check that its convolutions and "
            "linears are plain torch.nn modules or functional calls",
        )
    say(f"int8: {quantize} quantize and {dequantize} dequantize nodes in the converted graph")
    if _opt(options, "calibration") is not None:
        say(f"int8: calibrated on {_calibration_label(options, len(samples))}")

    import torch._inductor.config as inductor_config

    # Freezing is patched around every call (dynamo + AOT + inductor all see it, and a
    # recompile does too) instead of torch.compile(options=...), which breaks here, or a
    # global setting, which would leak into everything else in the process.
    compiled = torch.compile(converted, backend="inductor", dynamic=False)

    use_bf16 = _opt(options, "autocast") == "bf16"
    if use_bf16:
        say("int8: autocast bf16 on, so the non-quantized ops run in bf16 (int8-mixed-bf16)")

    def context() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        stack.enter_context(inductor_config.patch(freezing=True))
        if use_bf16:
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
        return stack

    state = {"first": True}

    def run(*inputs: Any, **named: Any) -> Any:
        if channels_last:
            inputs, named = _images_channels_last(inputs), _images_channels_last(named)
        if not state["first"]:
            with context():
                return compiled(*inputs, **named)
        try:
            with context():
                out = compiled(*inputs, **named)
        except Exception as err:
            raise BackendError(
                "compile-failed",
                f"compiling the int8 model with inductor failed ({_short(err)})",
                "skip int8 for this model; TORCH_LOGS=+inductor shows the details",
            ) from None
        state["first"] = False
        return out

    run.module = converted  # type: ignore[attr-defined]
    return run


# ---------------------------------------------------------------- graphs.py
# What ONNX Runtime and OpenVINO share: feeding graph inputs, the ONNX export, graph facts.
import importlib
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch


# ---- inputs of ONNX / OpenVINO graphs


def _fill_extra_input(name: str, shape: Sequence[int], dtype: Any) -> Any:
    import numpy as np

    lowered = name.lower()
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        if "mask" in lowered:
            return np.ones(shape, dtype=dtype)
        return np.zeros(shape, dtype=dtype)  # token_type_ids, position-like ids of 0
    raise BackendError(
        "onnx-inputs",
        f"the model has a second float input {name!r} the probe cannot fill",
        "give the probe a model with one input (extra integer inputs such as attention_mask "
        "and token_type_ids are filled automatically)",
    )


def _feeder(inputs: Sequence[Tuple[Any, Any]], example: Any, say: Log) -> Callable[..., List[Any]]:
    """A function: the model's arguments (as the example takes them) -> list of numpy
    arrays, one per graph input, in the graph's order.

    `inputs` holds the graph's (name, numpy dtype) pairs. Graph inputs named like the
    example's tensors (named_tensors: dict keys, or "input" for one tensor) take those;
    the others take the remaining example tensors in order; any graph input still
    without one is filled for the first tensor's shape (integer only: attention masks
    with ones, others such as token_type_ids with zeros).
    """

    ours = [name for name, _ in named_tensors(example)]
    _, example_kwargs = split_inputs(example)
    keywords = list(example_kwargs)
    graph_names = [str(n) for n, _ in inputs]
    source: List[Optional[int]] = [ours.index(n) if n in ours else None for n in graph_names]
    spare = [i for i in range(len(ours)) if i not in source]
    for g, taken in enumerate(source):
        if taken is None and spare:
            source[g] = spare.pop(0)
    extra = [(graph_names[g], inputs[g][1]) for g, taken in enumerate(source) if taken is None]
    if extra:
        say("extra model inputs filled automatically: "
            + ", ".join(f"{n} ({'ones' if 'mask' in n.lower() else 'zeros'})" for n, _ in extra))
    if spare:
        say("inputs the graph does not take (unused by the model): " + ", ".join(ours[i] for i in spare))
    cache: Dict[Tuple[int, ...], Dict[str, Any]] = {}

    def feeds(*args: Any, **kwargs: Any) -> List[Any]:
        flat = _flat_tensors(args, kwargs, keywords)
        arrays = []
        for g, taken in enumerate(source):
            if taken is None:
                shape = tuple(flat[0].shape)
                if shape not in cache:
                    cache[shape] = {n: _fill_extra_input(n, shape, d) for n, d in extra}
                arrays.append(cache[shape][graph_names[g]])
                continue
            arr = flat[taken].detach().contiguous().numpy()
            if arr.dtype != inputs[g][1]:
                arr = arr.astype(inputs[g][1])
            arrays.append(arr)
        return arrays

    # Fail now, not in the middle of the warm-up, if a float extra input cannot be filled.
    for name, dtype in extra:
        _fill_extra_input(str(name), (1,), dtype)
    return feeds


def _onnx_path(model_or_path: Any) -> Optional[str]:
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise BackendError("model-not-found", f"model file not found: {path}",
                               "check the --model path")
        return path
    return None


def _first_call_guard(fn: Callable[..., Any], backend: str) -> Callable[..., Any]:
    state = {"first": True}

    def run(*args: Any, **kwargs: Any) -> Any:
        if not state["first"]:
            return fn(*args, **kwargs)
        try:
            out = fn(*args, **kwargs)
        except BackendError:
            raise
        except Exception as err:
            raise BackendError(
                "inference-failed",
                f"{backend} failed on the first batch ({_short(err)})",
                "check the model's inputs: their shapes and dtypes (model.inputShape, model.inputDtype, "
                "or what example_inputs returns)",
            ) from None
        state["first"] = False
        return out

    return run


# ---- ONNX export


def _export_onnx(model: Any, example: Any, directory: str, say: Log) -> str:
    """Export to directory/model.onnx, trying the routes in order; returns the path.

    torch.onnx.export with the torch.export-based exporter (needs onnxscript) with a
    dynamic batch axis, then the same without dynamic axes, then the legacy TorchScript
    exporter (dynamo=False) as the last resort. The one that worked is logged. Several
    inputs (a tuple or dict example) become graph inputs named as named_tensors() names
    them, every one with a dynamic batch axis.
    """
    import warnings

    path = os.path.join(directory, "model.onnx")
    model = model.eval()
    named = named_tensors(_map_tensors(example, lambda t: t.contiguous()))  # NCHW: ORT picks its own layouts
    names = [n for n, _ in named]
    flat = tuple(t for _, t in named)
    single = isinstance(example, torch.Tensor)
    if not single:
        model = _Flat(model, example)
    batch = getattr(torch.export.Dim, "AUTO", None)
    routes: List[Tuple[str, Dict[str, Any]]] = []
    try:
        importlib.import_module("onnxscript")
        have_onnxscript = True
    except ImportError:
        have_onnxscript = False
        say("onnxscript is not installed: the torch.export-based ONNX exporter is "
            "unavailable, trying the legacy TorchScript exporter (pip install onnxscript)",
            level="warning")
    if have_onnxscript:
        if batch is not None:
            axes = tuple({0: batch} for _ in flat)
            routes.append(("torch.export-based exporter, dynamic batch",
                           {"dynamo": True, "dynamic_shapes": axes if single else (axes,)}))
        routes.append(("torch.export-based exporter, fixed shapes", {"dynamo": True}))
    routes.append(("legacy TorchScript exporter, dynamic batch",
                   {"dynamo": False, "dynamic_axes": {n: {0: "batch"} for n in names}}))

    failures = []
    for label, kwargs in routes:
        for leftover in os.listdir(directory):
            os.remove(os.path.join(directory, leftover))
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, flat, path, input_names=names, verbose=False, **kwargs)
            if not os.path.exists(path):
                raise RuntimeError("the exporter wrote no file")
        except Exception as err:
            failures.append(f"{label}: {_short(err, 300)}")
            say(f"ONNX export route failed ({label}): {_short(err, 300)}", level="warning")
            continue
        say(f"ONNX export: {label}")
        return path
    raise BackendError(
        "export-failed",
        "the model could not be exported to ONNX (" + "; ".join(failures) + ")",
        "export it yourself and pass the .onnx file as the model, or skip the ONNX backends",
    )


def _onnx_input_info(model_path: str) -> List[Tuple[str, Any]]:
    import onnx
    from onnx import helper

    graph = onnx.load(model_path, load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    out = []
    for value in graph.input:
        if value.name in initializers:
            continue
        out.append((value.name, helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)))
    return out


def _onnx_has_conv(model_path: str) -> bool:
    import onnx

    model = onnx.load(model_path, load_external_data=False)
    ops = {node.op_type for node in model.graph.node}
    for function in model.functions:
        ops.update(node.op_type for node in function.node)
    return bool(ops & {"Conv", "ConvTranspose"})


# ---------------------------------------------------------------- onnxruntime_backend.py
# ONNX Runtime on the CPU execution provider (export, int8, the session as measured).
import os
import tempfile
from typing import Any, Callable, Mapping, Optional, Tuple

import torch


# ---- ONNX Runtime


def _ort_quantize(src: str, example: Any, options: Optional[Mapping[str, Any]], directory: str,
                  say: Log, step: Phase) -> str:
    """Static QDQ for graphs with convolutions, dynamic otherwise (ONNX Runtime's advice
    for CNNs and for transformers). Data types as onnxruntime.quantization.quantize_static
    advises: x86 U8S8 (reduce_range without VNNI), Arm S8S8."""
    from onnxruntime import quantization as oq

    step("quantize")
    dst = os.path.join(directory, "model.int8.onnx")
    try:
        has_conv = _onnx_has_conv(src)
        pre = os.path.join(directory, "model.pre.onnx")
        try:  # recommended before quantizing: shape inference + graph clean-up
            oq.quant_pre_process(src, pre, skip_symbolic_shape=has_conv,
                                 save_as_external_data=True)
        except Exception as err:
            say(f"quantization pre-processing skipped ({_short(err, 200)})", level="warning")
            pre = src

        if not has_conv:
            oq.quantize_dynamic(pre, dst, weight_type=oq.QuantType.QInt8,
                                use_external_data_format=True)
            say("ONNX Runtime int8: dynamic quantization (int8 weights, activations "
                "quantized on the fly): no convolutions in the graph")
            return dst

        inputs = _onnx_input_info(pre)
        feeds = _feeder(inputs, example, say)
        names = [name for name, _ in inputs]
        samples = [dict(zip(names, call_model(feeds, t))) for t in _calibration_samples(example, options)]

        class Reader(oq.CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(samples)

            def get_next(self):  # noqa: D401 - the onnxruntime interface
                return next(self._it, None)

        features = _cpu_features()
        if _is_x86():
            act = oq.QuantType.QUInt8
            reduce_range = not (features & {"avx512_vnni", "avx_vnni", "amx_int8"})
            types = "U8S8" + (", reduce_range (no VNNI)" if reduce_range else "")
        else:
            act = oq.QuantType.QInt8
            reduce_range = False
            types = "S8S8"
        oq.quantize_static(pre, dst, Reader(), quant_format=oq.QuantFormat.QDQ,
                           per_channel=True, reduce_range=reduce_range, activation_type=act,
                           weight_type=oq.QuantType.QInt8, use_external_data_format=True)
        which = "given" if _opt(options, "calibration") is not None else "seeded"
        say(f"ONNX Runtime int8: static QDQ quantization ({types}, per-channel weights, "
            f"MinMax calibration on {len(samples)} {which} batches): the graph has convolutions")
        return dst
    except BackendError:
        raise
    except Exception as err:
        raise BackendError(
            "quantize-failed",
            f"ONNX Runtime int8 quantization failed ({_short(err)})",
            "skip int8 for the ONNX Runtime backend for this model",
        ) from None


_ORT_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
_ORT_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}


def _ort_session_options(ort: Any, entries: Optional[Mapping[str, str]], threads: int) -> Tuple[Any, str]:
    """The SessionOptions as measured. entries None: the tuned session graviton-tune has
    always used for exported models (intra-op threads = threads, one inter-op thread,
    sequential, all graph optimisations). A mapping ({} = ONNX Runtime's defaults): a
    plain SessionOptions() with each entry applied on top (GT_ORT_OPTIONS)."""
    opts = ort.SessionOptions()
    if entries is None:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        return opts, f"{threads} intra-op threads, sequential, graph optimisation all"
    shown = []
    for key, value in entries.items():
        try:
            if key in ("intra_op_num_threads", "inter_op_num_threads"):
                setattr(opts, key, threads if value == "threads" else int(value))
            elif key == "execution_mode":
                opts.execution_mode = getattr(ort.ExecutionMode, _ORT_MODES[value])
            elif key == "graph_optimization_level":
                opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVELS[value])
            elif "." in key:
                opts.add_session_config_entry(key, value)
            else:
                raise KeyError(key)
        except (KeyError, ValueError):
            raise ConfigError(f"ONNX Runtime session option {key}={value}: not understood (keys: "
                              "intra_op_num_threads, inter_op_num_threads, execution_mode, "
                              "graph_optimization_level, or a config entry with a '.')") from None
        shown.append(f"{key}={threads if value == 'threads' else value}")
    return opts, ("ONNX Runtime's default session" + (" with " + ", ".join(shown) if shown else "")
                  + " (GT_ORT_OPTIONS)")


def prepare_onnxruntime(model_or_path: Any, example: Any, options: Optional[Mapping[str, Any]] = None,
                        log: Optional[Log] = None, phase: Optional[Phase] = None) -> Callable[[Any], Any]:
    """ONNX Runtime on the CPU execution provider, for an nn.Module or an .onnx path.

    Returns a callable: input tensor -> the model's first output as a float32 torch tensor
    (extra integer graph inputs such as attention_mask are filled: masks with ones, others
    with zeros). An nn.Module is exported first (see _export_onnx: the batch axis stays
    dynamic when the exporter allows it). options["quantization"] == "int8" quantizes the
    graph (see _ort_quantize). One session: intra-op threads = options["threads"], one
    inter-op thread, sequential execution, all graph optimisations. When bf16 is asked
    for (autocast or fp32_precision "bf16") on an aarch64 CPU with bf16 (Graviton3 and
    newer), bf16 GEMM fast math is on (mlas.enable_gemm_fastmath_arm64_bfloat16=1: lossy,
    check the outputs); plain fp32 stays fp32 (it was on for every session on such a CPU,
    found under Arm emulation: the fp32 onnxruntime step measured bf16 math). On x86
    there is no bf16 route for fp32 models, so bf16 options are logged as having no effect.
    The callable keeps the temporary files (.workdir) and the session (.session).
    """
    say, step = _hooks(log, phase)
    ort = _require("onnxruntime", PIP_ORT, "ONNX Runtime (onnxruntime)")
    import numpy as np

    example = _one_or_many(example, "ONNX Runtime")
    workdir = tempfile.TemporaryDirectory(prefix="graviton-tune-onnx-")
    path = _onnx_path(model_or_path)
    int8 = _int8_requested(options)
    if path is None or int8:
        _require("onnx", PIP_ORT)
    if path is None:
        step("export")
        path = _export_onnx(model_or_path, example, workdir.name, say)
    if int8:
        path = _ort_quantize(path, example, options, workdir.name, say, step)

    threads = _threads(options)
    session_options, described = _ort_session_options(ort, _opt(options, "ort_options"), threads)
    if _is_arm64() and _bf16_requested(options):
        if _cpu_has_bf16():
            session_options.add_session_config_entry("mlas.enable_gemm_fastmath_arm64_bfloat16", "1")
            say("ONNX Runtime: bf16 GEMM fast math on "
                "(mlas.enable_gemm_fastmath_arm64_bfloat16=1, this CPU has bf16)")
        else:
            say("ONNX Runtime: bf16 GEMM fast math off: this CPU has no bf16 "
                "(needs Graviton3 / Neoverse V1 or newer)", level="warning")
    elif _bf16_requested(options):
        say("ONNX Runtime: no bf16 route for fp32 models on this CPU; "
            "autocast/fp32Precision bf16 has no effect here", level="warning")
    if _opt(options, "channels_last", False):
        say("ONNX Runtime: channelsLast has no effect (it chooses its own layouts)")

    step("compile")
    try:
        session = ort.InferenceSession(path, session_options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise BackendError(
            "session-failed",
            f"ONNX Runtime could not load the model ({_short(err)})",
            "check the model with: python -m onnxruntime.tools.check_onnx_model_mobile_usability "
            "MODEL.onnx, or upgrade: pip install --upgrade onnxruntime",
        ) from None
    say(f"ONNX Runtime {ort.__version__}: CPUExecutionProvider, {described}")

    type_map = {"tensor(float)": "float32", "tensor(double)": "float64",
                "tensor(float16)": "float16", "tensor(int64)": "int64",
                "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(uint8)": "uint8",
                "tensor(int8)": "int8"}
    inputs = [(i.name, np.dtype(type_map.get(i.type, "float32"))) for i in session.get_inputs()]
    feeds = _feeder(inputs, example, say)
    names = [name for name, _ in inputs]
    output = session.get_outputs()[0].name

    current = {"session": session}

    def run(*args: Any, **kwargs: Any) -> Any:
        result = current["session"].run([output], dict(zip(names, feeds(*args, **kwargs))))[0]
        return torch.from_numpy(np.asarray(result)).float()

    def swap_session(other: Any) -> Any:
        """Run on another session of the same graph (a profiled one) until swapped back; returns the one it replaced."""
        replaced, current["session"] = current["session"], other
        return replaced

    guarded = _first_call_guard(run, "ONNX Runtime")
    guarded.workdir = workdir  # type: ignore[attr-defined]  # keep the files while in use
    guarded.session = session  # type: ignore[attr-defined]
    guarded.swap_session = swap_session  # type: ignore[attr-defined]
    return guarded


# ---------------------------------------------------------------- openvino_backend.py
# OpenVINO on "CPU" (conversion, NNCF int8, the precision hint as measured).
import hashlib
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch


# ---- OpenVINO


def _openvino_precision(options: Optional[Mapping[str, Any]], core: Any, say: Log) -> str:
    if not _bf16_requested(options):
        say("OpenVINO: INFERENCE_PRECISION_HINT=f32 (set explicitly: OpenVINO would "
            "otherwise run in bf16 on CPUs that have it)")
        return "f32"
    cpu_bf16 = _cpu_has_bf16()
    try:
        ov_bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        ov_bf16 = cpu_bf16
    if not (cpu_bf16 and ov_bf16):
        why = "this CPU has no bf16 instructions" if not cpu_bf16 else \
            "OpenVINO does not offer BF16 on this CPU"
        raise BackendError(
            "bf16-unsupported",
            f"bf16 was asked of OpenVINO but {why}",
            "bf16 needs avx512_bf16 or amx_bf16 (x86) or bf16 (Arm: Graviton3 or newer); "
            "measure OpenVINO without autocast/fp32Precision bf16",
        )
    say("OpenVINO: INFERENCE_PRECISION_HINT=bf16 (asked, and the CPU has bf16)")
    return "bf16"


def _hash_tensor(h: Any, tensor: torch.Tensor) -> None:
    h.update(repr((str(tensor.dtype), tuple(tensor.shape))).encode())
    h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def _cache_key(model_or_path: Any, path: Optional[str], named: list, options: Optional[Mapping[str, Any]],
               ov: Any, nncf: Any) -> Optional[str]:
    """What the converted (and, for int8, quantized) model depends on: the OpenVINO and NNCF
    releases, the model's weights (or its file), the input names, shapes and dtypes, and what
    int8 calibrated on. None when the model cannot be fingerprinted (then nothing is cached)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr(("v1", ov.__version__, getattr(nncf, "__version__", None) if nncf else None)).encode())
    h.update(repr([(name, tuple(t.shape), str(t.dtype)) for name, t in named]).encode())
    try:
        if path is not None:
            st = os.stat(path)
            h.update(repr((os.path.abspath(path), st.st_size, st.st_mtime_ns)).encode())
        else:
            for name, tensor in model_or_path.state_dict().items():
                h.update(name.encode())
                _hash_tensor(h, tensor)
        if nncf is not None:
            given = _opt(options, "calibration")
            if given is None:  # the example itself and seeded batches like it
                h.update(repr(("seeded", int(_opt(options, "seed", 0)), CALIBRATION_BATCHES)).encode())
                for _, t in named:
                    _hash_tensor(h, t)
            else:
                for batch in given:
                    for _, t in named_tensors(batch):
                        _hash_tensor(h, t)
    except Exception:
        return None
    return h.hexdigest()


def _save_to_cache(ov: Any, ov_model: Any, xml: str) -> None:
    """Weights kept as they are (save_model would compress them to fp16 by default); the .xml
    is renamed into place last, so a model found in the cache is always complete."""
    folder = os.path.dirname(xml)
    os.makedirs(folder, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=folder, prefix=".saving-")
    try:
        ov.save_model(ov_model, os.path.join(scratch, "model.xml"), compress_to_fp16=False)
        os.replace(os.path.join(scratch, "model.bin"), xml[:-4] + ".bin")
        os.replace(os.path.join(scratch, "model.xml"), xml)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def prepare_openvino(model_or_path: Any, example: Any, options: Optional[Mapping[str, Any]] = None,
                     log: Optional[Log] = None, phase: Optional[Phase] = None) -> Callable[[Any], Any]:
    """OpenVINO on "CPU", for an nn.Module or a model file OpenVINO reads (.onnx, .xml).

    Returns a callable: input tensor of the example's shape -> the model's first output as
    a float32 torch tensor. The inputs are reshaped to the example's static shape (faster
    CPU kernels than dynamic ones). PERFORMANCE_HINT=LATENCY: one synchronous request per
    process; THROUGHPUT would split the threads into streams that only help with several
    requests in flight. INFERENCE_PRECISION_HINT is always set: OpenVINO runs in bf16 by
    default on CPUs that have bf16 (AMD Zen 4 with avx512_bf16 reports bfloat16 when none
    is given), so "bf16" only when asked (autocast or fp32_precision "bf16") and the CPU
    has it, "f32" otherwise. options["quantization"] == "int8": NNCF post-training
    quantization (nncf.quantize) of the converted model, ModelType.TRANSFORMER for token
    (integer) inputs. The callable keeps the compiled model (.compiled_model).

    options["cache_dir"]: a folder where the converted (and quantized) model is kept as
    OpenVINO IR, keyed by everything it depends on (the weights, input shapes, releases,
    calibration data): the next preparation of the same model and settings reads it instead
    of converting and quantizing again. The callable's .cache says {"path", "hit"}.
    """
    say, step = _hooks(log, phase)
    ov = _require("openvino", PIP_OPENVINO, "OpenVINO (openvino)")
    import numpy as np

    example = _one_or_many(example, "OpenVINO")
    named = named_tensors(example)
    int8 = _int8_requested(options)
    nncf = _require("nncf", PIP_NNCF, "NNCF (nncf), needed for OpenVINO int8") if int8 else None

    core = ov.Core()
    path = _onnx_path(model_or_path)
    cache_dir = _opt(options, "cache_dir")
    key = _cache_key(model_or_path, path, named, options, ov, nncf) if cache_dir else None
    cached = os.path.join(str(cache_dir), f"openvino-{key}.xml") if key else None
    hit = cached is not None and os.path.exists(cached)
    step("export")
    try:
        if hit:
            ov_model = core.read_model(cached)
            say(f"OpenVINO: the {'quantized' if int8 else 'converted'} model read from the cache ({cached})")
        elif path is not None:
            ov_model = core.read_model(path)
        else:
            model = model_or_path.eval()
            flat = tuple(t.contiguous() for _, t in named)
            with torch.no_grad():
                if len(flat) == 1 and isinstance(example, torch.Tensor):
                    ov_model = ov.convert_model(model, example_input=flat[0])
                else:  # several inputs: one flat positional row (graph inputs in that order)
                    ov_model = ov.convert_model(_Flat(model, example), example_input=flat)
    except Exception as err:
        raise BackendError(
            "export-failed",
            f"OpenVINO could not convert the model ({_short(err)})",
            "export the model to ONNX and pass the .onnx file, or skip the OpenVINO backend",
        ) from None

    inputs = []
    for port in ov_model.inputs:
        try:
            name = port.get_any_name()
        except RuntimeError:
            name = f"input{len(inputs)}"
        inputs.append((name, np.dtype(port.get_element_type().to_dtype())))
    # Which example tensor each port takes (by name, else in order): its shape is the port's.
    used: set = set()

    def port_tensor(name: str) -> Any:
        free = [i for i in range(len(named)) if i not in used]
        chosen = next((i for i in free if named[i][0] == name), free[0] if free else 0)
        used.add(chosen)
        return named[chosen][1]

    shapes = [list(port_tensor(name).shape) for name, _ in inputs]
    try:
        static = {port: ov.PartialShape(shape) for port, shape in zip(ov_model.inputs, shapes)
                  if port.get_partial_shape().rank.is_static
                  and port.get_partial_shape().rank.get_length() == len(shape)}
        if static:
            ov_model.reshape(static)
            shown = sorted({str(sh) for sh in shapes})
            say(f"OpenVINO: inputs fixed to the shape{'s' if len(shown) > 1 else ''} {', '.join(shown)} "
                "(static shapes run faster)")
    except Exception as err:
        say(f"OpenVINO: kept dynamic input shapes ({_short(err, 200)})", level="warning")

    feeds = _feeder(inputs, example, say)

    if int8 and not hit:
        step("quantize")
        samples = [call_model(feeds, t) for t in _calibration_samples(example, options)]
        kwargs: Dict[str, Any] = {"subset_size": len(samples)}
        if not any(t.is_floating_point() for _, t in named):
            kwargs["model_type"] = nncf.ModelType.TRANSFORMER
        try:
            ov_model = nncf.quantize(ov_model, nncf.Dataset(samples), **kwargs)
        except Exception as err:
            raise BackendError(
                "quantize-failed",
                f"NNCF int8 quantization failed ({_short(err)})",
                "skip int8 for the OpenVINO backend, or: pip install --upgrade nncf openvino",
            ) from None
        say(f"OpenVINO int8: NNCF post-training quantization, {_calibration_label(options, len(samples))}"
            + (", transformer preset" if "model_type" in kwargs else ""))

    if cached is not None and not hit:
        try:
            _save_to_cache(ov, ov_model, cached)
        except Exception as err:
            say(f"OpenVINO: could not keep the converted model in the cache ({_short(err, 200)})", level="warning")
            cached = None

    threads = _threads(options)
    precision = _openvino_precision(options, core, say)
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": precision}
    if _opt(options, "channels_last", False):
        say("OpenVINO: channelsLast has no effect (it chooses its own layouts)")

    step("compile")
    try:
        compiled = core.compile_model(ov_model, "CPU", config)
    except Exception as err:
        raise BackendError(
            "session-failed",
            f"OpenVINO could not compile the model for the CPU ({_short(err)})",
            "pip install --upgrade openvino",
        ) from None
    say(f"OpenVINO {ov.__version__}: CPU, {threads} threads, PERFORMANCE_HINT=LATENCY "
        "(one stream: one request at a time)")
    current = {"request": compiled.create_infer_request()}

    def run(*args: Any, **kwargs: Any) -> Any:
        request = current["request"]
        request.infer(feeds(*args, **kwargs), share_inputs=True)
        out = request.get_output_tensor(0).data
        return torch.from_numpy(np.array(out, dtype=np.float32, copy=True))

    def profile(*args: Any, **kwargs: Any) -> List[Any]:
        """One call on a second compile of the same model with OpenVINO's per-layer counters
        on (PERF_COUNT; the timed one never has them): each executed layer's ProfilingInfo."""
        profiled = core.compile_model(ov_model, "CPU", {**config, "PERF_COUNT": True}).create_infer_request()
        timed, current["request"] = current["request"], profiled
        try:
            run(*args, **kwargs)
        finally:
            current["request"] = timed
        return list(profiled.get_profiling_info())

    guarded = _first_call_guard(run, "OpenVINO")
    guarded.compiled_model = compiled  # type: ignore[attr-defined]
    guarded.profile = profile  # type: ignore[attr-defined]
    guarded.cache = {"path": cached, "hit": hit} if cached else None  # type: ignore[attr-defined]
    return guarded


# ---------------------------------------------------------------- optimize.py
# optimize(): the GT_* choices applied to a model, through the backend they name.
import logging
import os
from typing import Any, Dict, Iterable, Mapping, Optional

import torch


_logger = logging.getLogger("graviton_tune_runtime")


def _apply_process_settings(cfg: Dict[str, Any]) -> None:
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    if cfg["fp32_precision"] == "bf16":
        # The x86 route to bf16 math for an fp32 model (oneDNN matmul and conv).
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        torch.backends.mkldnn.conv.fp32_precision = "bf16"


def _log_to_logging(message: str, level: str = "info") -> None:
    _logger.log(logging.WARNING if level == "warning" else logging.INFO, message)


def optimize(model: Any, example_input: Any = None, environ: Optional[Mapping[str, str]] = None,
             calibration_data: Optional[Iterable[Any]] = None, *, log: Optional[Log] = None,
             phase: Optional[Phase] = None, cache_dir: Optional[str] = None) -> OptimizedModel:
    """Apply the GT_* choices to `model` and return a callable that runs it that way.

    `example_input` is one batch like the real ones, in the form the model takes: a
    tensor, a tuple of the model's positional arguments, or a dict of its keyword
    arguments (a tokenizer's output, return_tensors="pt"). int8, onnxruntime and openvino need it (to export and
    calibrate; OpenVINO and int8 keep its shape); with torch.compile it is used to warm
    up, so the first real request does not pay for compilation. For onnxruntime and
    openvino, `model` may also be a model file path (.onnx; .xml for OpenVINO).

    `calibration_data`: for int8, real input batches (like example_input) to calibrate
    on instead of the seeded random ones graviton-tune measured with: same speed, better
    accuracy. Choices are logged to the "graviton_tune_runtime" logger (or given to
    `log(message, level=...)`), and `phase(name)` is told when a stage begins (export,
    quantize, compile); failures raise BackendError (.code, .hint) or ConfigError.

    `cache_dir`: for openvino, a folder to keep the converted (and quantized) model in, so
    that the next start with the same model, input shapes and settings reads it back
    instead of converting and quantizing again (keyed by all of these; safe to share).

    graviton-tune's probe measures by calling this function and then timing calls of
    what it returns, so this is the code path that was measured.
    """
    env = os.environ if environ is None else environ
    cfg = settings(env)
    pin_worker(env)
    say, step = _hooks(log or _log_to_logging, phase)
    backend = cfg["backend"]
    _apply_process_settings(cfg if backend == "torch" else {**cfg, "fp32_precision": "none"})
    options: Dict[str, Any] = {**cfg, "seed": 0}
    if cache_dir:
        options["cache_dir"] = cache_dir
    if calibration_data is not None:
        options["calibration"] = list(calibration_data)

    if backend != "torch":
        if example_input is None:
            raise ValueError(f"GT_BACKEND={backend} needs example_input: optimize(model, example_input)")
        prepare = prepare_onnxruntime if backend == "onnxruntime" else prepare_openvino
        runner = prepare(model, example_input, options, log=say, phase=step)
        optimized = OptimizedModel(runner, model, cfg, compiled=False)
        call_model(optimized, example_input)  # the first call: errors surface here, not on a request
        return optimized

    if isinstance(model, torch.nn.Module):
        try:
            model.eval()
        except NotImplementedError:
            pass  # a torch.export module: already in inference form, and it refuses eval()
    if cfg["quantization"] == "int8":
        if example_input is None:
            raise ValueError("GT_QUANTIZATION=int8 needs example_input: optimize(model, example_input)")
        # As measured: PT2E int8, compiled by inductor on the first call; it applies
        # channels_last to the inputs and bf16 autocast (int8-mixed-bf16) itself.
        runner = prepare_int8(model, example_input, options, log=say, phase=step)
        optimized = OptimizedModel(runner, model, cfg, compiled=True)
        step("compile")
        call_model(optimized, example_input)  # compile now, not on the first request
        return optimized

    if cfg.get("weight_quantization", "none") != "none":
        # torchao on the Linear layers; the model stays an eager module (generate() as before).
        step("quantize")
        model = quantize_weights(model, cfg["weight_quantization"], say)
    if cfg["channels_last"] and not _has_image(example_input):
        say("channelsLast ignored: no input is a 4-D float tensor (an image)", "warning")
        cfg = {**cfg, "channels_last": False}
    compiled = cfg["compile"]
    if compiled and can_generate(model):
        # A language model: its step compiled for generate() (static KV cache), which also
        # serves a plain call; generate()'s first call compiles (its lengths fix the shapes).
        step("compile")
        model = compile_generation(model, say)
        return OptimizedModel(eager(model, cfg), model, cfg, compiled, generation=True)
    forward = eager(model, cfg)
    optimized = OptimizedModel(compile_model(forward, say) if compiled else forward, model, cfg, compiled)
    if compiled and example_input is not None:
        # Compile now, not on the first request; with the caller's own layout, so the
        # guards match the real calls (the layout change happens inside).
        step("compile")
        first_compiled_call(lambda: call_model(optimized, example_input))
    return optimized


def _has_image(example_input: Any) -> bool:
    if example_input is None:
        return True  # nothing to judge by
    try:
        return any(_is_image(t) for _, t in named_tensors(example_input))
    except TypeError:
        return True


def prepare_input(inputs: Any, environ: Optional[Mapping[str, str]] = None) -> Any:
    """The input in the layout the optimized model computes in (channels_last images when
    GT_CHANNELS_LAST=1 on torch), for an app's data path that can convert each batch once
    (OptimizedModel.prepare_input does the same)."""
    cfg = settings(environ)
    if cfg["channels_last"] and cfg["backend"] == "torch":
        return _images_channels_last(inputs)
    return inputs


__all__ = [
    "optimize", "batch_size", "settings", "pin_worker", "worker_cpus", "prepare_input", "OptimizedModel",
    "ConfigError", "BackendError", "prepare_int8", "prepare_onnxruntime", "prepare_openvino",
    "tidy_for_quantization", "quantize_nodes", "compile_model", "split_inputs", "call_model", "named_tensors",
    "batch_rows", "rebatch", "load_samples", "token_inputs", "load_pretrained", "onnx_inputs", "onnx_input_specs",
    "onnx_fixed_batch", "model_path", "parse_value", "CONTRACT", "OPTIONS", "CALIBRATION_BATCHES",
    "MIN_TORCH_INT8", "DEFAULT_TOKEN_RANGE", "WEIGHT_FILES", "pretrained_class", "can_generate", "is_encoder_decoder",
    "prompt_inputs", "greedy_settings", "generate_timed", "generate_checked", "compare_tokens", "max_positions",
    "CHECK_TOKENS", "quantize_weights", "int4_group", "WEIGHT_KINDS",
]
