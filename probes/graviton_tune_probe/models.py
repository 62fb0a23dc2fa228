"""Turn a ModelSpec into something to run, plus the input it takes.

Built-ins are built with seeded random weights (weights do not change speed, and no
download is ever needed). A user's model comes from a .py file with a factory, a
Hugging Face save_pretrained folder, a TorchScript file, a torch.export file or an
ONNX file (the latter only runs on the ONNX backends). Every way this can go wrong
maps to an error code a person can act on; see the module docstring of run.py.

Inputs take the three forms of the runtime helper (graviton_tune_runtime.split_inputs):
a tensor, a tuple of tensors (positional) or a dict of tensors (keyword). They come,
in this order, from real samples (--samples, regrouped into batches of the measured
size), from the model file's example_inputs(batch_size), from a Hugging Face folder's
config (token inputs), or from the input shape and dtype (one tensor).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

import graviton_tune_runtime as rt

from . import zoo
from .config import DEFAULT_NEW_TOKENS, DEFAULT_PROMPT_LEN, ModelSpec
from .protocol import ProbeError, emit, first_line

VISION_SHAPE = [3, 224, 224]
BERT_SEQUENCE = 128
# Token ids for models we know nothing about are drawn below this bound: small enough
# for any real vocabulary, large enough not to be a degenerate input.
USER_TOKEN_RANGE = 100


@dataclass
class Builtin:
    build: Callable[[], Any]
    input_shape: List[int]
    input_dtype: str
    token_range: Optional[int] = None


def _bert_base() -> torch.nn.Module:
    try:
        from transformers import BertConfig, BertModel
    except ImportError as err:
        raise ProbeError("missing-package", f"bert_base needs the transformers package ({err})",
                         "pip install transformers") from None
    return BertLastHiddenState(BertModel(BertConfig(), add_pooling_layer=False))


class BertLastHiddenState(torch.nn.Module):
    """BERT-base encoder returning the last hidden state: one float tensor per token.

    The hidden state (batch x sequence x 768) is a stricter output check than a
    two-class head would be, and the pooler it skips is negligible compute.
    """

    def __init__(self, bert: torch.nn.Module):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=input_ids).last_hidden_state


BUILTINS: Dict[str, Builtin] = {
    "resnet50": Builtin(zoo.resnet50, VISION_SHAPE, "float32"),
    "resnet18": Builtin(zoo.resnet18, VISION_SHAPE, "float32"),
    "mobilenet_v3_large": Builtin(zoo.mobilenet_v3_large, VISION_SHAPE, "float32"),
    "vit_b_16": Builtin(zoo.vit_b_16, VISION_SHAPE, "float32"),
    "bert_base": Builtin(_bert_base, [BERT_SEQUENCE], "int64", token_range=30522),
    "toy": Builtin(zoo.toy, [3, 64, 64], "float32"),
}

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


@dataclass
class LoadedModel:
    """What the rest of the probe needs to know about the model."""

    label: str
    kind: str  # builtin | python | huggingface | torchscript | export | onnx
    module: Optional[Callable[..., Any]]  # None for ONNX files
    onnx_path: Optional[str]
    input_shape: Optional[List[int]]  # the one-tensor shortcut; None when inputs come otherwise
    input_dtype: str
    token_range: int
    example_inputs: Optional[Callable[[int], Any]] = None  # batch_size -> input (any form)
    evaluate: Optional[Callable[[Any], float]] = None  # the user's metric: model -> float
    samples: Optional[List[Any]] = None  # real inputs (--samples), as loaded
    samples_path: Optional[str] = None
    task: str = "forward"  # forward | generate (example_inputs then makes the prompts)
    new_tokens: int = DEFAULT_NEW_TOKENS  # generate: new tokens per sequence

    def make_input(self, batch_size: int, seed: int) -> Any:
        """The seeded input batch: the same for the reference and every configuration.

        With real samples, their first batch (so every shape-specialising backend sees
        the samples' shape)."""
        if self.samples is not None:
            return self.sample_batches(batch_size)[0]
        if self.example_inputs is not None:
            torch.manual_seed(seed)
            return _checked_example(self.example_inputs, batch_size, self.label)
        gen = torch.Generator().manual_seed(seed)
        shape = [batch_size, *self.input_shape]
        if self.input_dtype == "int64":
            return torch.randint(0, self.token_range, shape, generator=gen, dtype=torch.int64)
        return torch.randn(shape, generator=gen, dtype=_DTYPES[self.input_dtype])

    def sample_batches(self, batch_size: int) -> List[Any]:
        """The real samples regrouped into batches of batch_size rows."""
        try:
            return rt.rebatch(self.samples, batch_size)
        except (ValueError, RuntimeError) as err:
            raise ProbeError("bad-samples", f"{self.samples_path}: {err}",
                             "save a list of inputs in the form the model takes (tensor, tuple or dict of "
                             "tensors), every input with the same shape apart from the batch") from None

    def sample_rows(self) -> int:
        """How many samples (rows) the real data holds."""
        if self.samples is None:
            return 0
        return sum(rows[0][1] or 0 for rows in (rt.batch_rows(s) for s in self.samples))


def _checked_example(example_inputs: Callable[[int], Any], batch_size: int, label: str) -> Any:
    """example_inputs(batch_size), checked: a tensor, tuple or dict of tensors, batch_size rows each."""
    fix = ("example_inputs(batch_size) must return a tensor, a tuple of tensors (positional arguments) or "
           "a dict of tensors (keyword arguments), each with batch_size rows (the first dimension)")
    try:
        inputs = example_inputs(batch_size)
    except ProbeError:
        raise
    except Exception as err:
        raise ProbeError("bad-example-inputs", f"example_inputs({batch_size}) in {label} raised "
                         f"{type(err).__name__}: {first_line(err)}", fix) from None
    try:
        rows = rt.batch_rows(inputs)
    except TypeError:
        rows = []
    if not rows or not all(isinstance(t, torch.Tensor) for _, t in rt.named_tensors(inputs)):
        raise ProbeError("bad-example-inputs", f"example_inputs({batch_size}) in {label} returned "
                         f"{type(inputs).__name__}, not tensors", fix)
    wrong = [f"{name} has {n} rows" if n is not None else f"{name} is 0-D" for name, n in rows if n != batch_size]
    if wrong:
        raise ProbeError("bad-example-inputs", f"example_inputs({batch_size}) in {label} returned the wrong batch "
                         f"size: {', '.join(wrong)} (expected {batch_size})", fix)
    return inputs


def load_model(spec: ModelSpec, backend: str, seed: int) -> LoadedModel:
    torch.manual_seed(seed)  # random weights, but the same ones every run
    loaded = _load_file(spec, backend) if spec.path else _load_builtin(spec)
    if spec.samples:
        loaded.samples, loaded.samples_path = _load_samples(spec.samples), spec.samples
    return loaded


def _load_samples(path: str) -> List[Any]:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise ProbeError("samples-not-found", f"samples file not found: {path}",
                         "check the path given with --samples")
    try:
        return rt.load_samples(full)
    except Exception as err:
        raise ProbeError("bad-samples", f"{path}: {type(err).__name__}: {first_line(err)}",
                         "--samples takes a torch.save'd list of inputs (each a tensor, a tuple or a dict of "
                         "tensors, as the model takes them) or an .npz of arrays keyed by input name") from None


def _load_builtin(spec: ModelSpec) -> LoadedModel:
    name = (spec.name or "resnet50").lower()
    builtin = BUILTINS.get(name)
    if builtin is None:
        raise ProbeError("unknown-model", f"unknown built-in model {spec.name!r}",
                         "built-in models: " + ", ".join(BUILTINS) + "; or give a model file with --model PATH")
    module = builtin.build().eval()
    return LoadedModel(name, "builtin", module, None, spec.input_shape or list(builtin.input_shape),
                       spec.input_dtype or builtin.input_dtype, builtin.token_range or USER_TOKEN_RANGE)


def _needs_shape(path: str) -> ProbeError:
    return ProbeError("needs-input-shape", f"{path}: the per-sample input shape is needed for this model file",
                      "give it with --input-shape, e.g. --input-shape 3,224,224 (without the batch dimension)")


def _load_file(spec: ModelSpec, backend: str) -> LoadedModel:
    path = os.path.abspath(os.path.expanduser(spec.path))
    if os.path.isdir(path):
        return _load_folder(spec, path)
    if not os.path.isfile(path):
        raise ProbeError("model-not-found", f"model file not found: {spec.path}",
                         "check the path given with --model (relative paths start from the current directory)")
    ext = os.path.splitext(path)[1].lower()
    label = spec.path + (f":{spec.factory}" if spec.factory else "")
    shape, dtype = spec.input_shape, spec.input_dtype
    example_inputs = evaluate = None
    if ext == ".onnx":
        if backend == "torch":
            raise ProbeError("onnx-needs-onnx-backend", f"{spec.path} is an ONNX model: PyTorch cannot run it",
                             "measure it with the onnxruntime or openvino backend, or give the PyTorch model "
                             "(.py factory, TorchScript or .pt2) instead")
        module, kind = None, "onnx"
        example_inputs = _onnx_example_inputs(path, spec)
        shape = None  # the graph's own inputs: names, shapes and types (--input-shape fills symbolic dims)
    elif ext == ".py":
        module, user_module = _load_python(path, spec.factory or "build_model")
        kind = "python"
        example_inputs = getattr(user_module, "example_inputs", None)
        evaluate = getattr(user_module, "evaluate", None)
        if not callable(example_inputs) or shape is not None:
            example_inputs = None  # --input-shape is the shortcut: it wins when given
        if not callable(evaluate):
            evaluate = None
        # A model file asks for generation with TASK = "generate" (or --task generate).
        if resolve_task(spec, module, spec.path, asked=getattr(user_module, "TASK", None) or "forward") == "generate":
            return _generating(spec, label, "python", module, example_inputs, evaluate)
    elif ext in (".pt", ".ts", ".pth", ".jit"):
        module, kind = _load_torchscript(path), "torchscript"
    elif ext == ".pt2":
        module, example = _load_exported(path)
        kind = "export"
        if shape is None and example is not None:
            shape, dtype = list(example.shape[1:]), dtype or _dtype_name(example.dtype)
    else:
        raise ProbeError("unsupported-model-file", f"{spec.path}: unknown model file type {ext or '(none)'}",
                         "use a .py file with a factory, TorchScript (.pt/.ts), torch.export (.pt2) or ONNX (.onnx)")
    if shape is None and example_inputs is None and not spec.samples:
        raise _needs_shape(spec.path)
    dtype = dtype or "float32"
    if dtype not in _DTYPES:
        raise ProbeError("bad-config", f"{spec.path}: unsupported input dtype {dtype}",
                         "give --input-dtype float32 or int64")
    return LoadedModel(label, kind, module, path if kind == "onnx" else None,
                       list(shape) if shape is not None else None, dtype, USER_TOKEN_RANGE,
                       example_inputs=example_inputs, evaluate=evaluate)


def _load_folder(spec: ModelSpec, path: str) -> LoadedModel:
    """A Hugging Face save_pretrained folder (config.json), through the runtime helper's loader."""
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ProbeError("model-not-found", f"{spec.path} is a folder without config.json",
                         "give a folder written by save_pretrained (it holds config.json), or a model file")
    try:
        module = rt.load_pretrained(path, log=lambda message, level="info": emit("log", level=level, message=message))
    except rt.BackendError as err:
        raise ProbeError(err.code, err.message, err.hint) from None
    except Exception as err:
        raise ProbeError("model-load-failed", f"loading the Hugging Face folder {spec.path} failed: "
                         f"{type(err).__name__}: {first_line(err)}",
                         "check that transformers can load it: AutoConfig.from_pretrained(folder)") from None
    evaluate = _folder_evaluate(path)
    task = resolve_task(spec, module, spec.path)
    if task == "generate":
        return _generating(spec, spec.path, "huggingface", module, None, evaluate)
    seq_len = spec.seq_len or BERT_SEQUENCE
    limit = getattr(module.config, "max_position_embeddings", None)
    if isinstance(limit, int) and 0 < limit < seq_len:
        raise ProbeError("bad-config", f"--seq-len {seq_len} is longer than this model takes "
                         f"(max_position_embeddings {limit})", f"give --seq-len {limit} or less")

    def example_inputs(batch_size: int) -> Any:
        return rt.token_inputs(module, batch_size, seq_len, seed=torch.initial_seed())

    return LoadedModel(spec.path, "huggingface", module, None, None, "int64", USER_TOKEN_RANGE,
                       example_inputs=example_inputs, evaluate=evaluate)


def resolve_task(spec: ModelSpec, module: Any, label: str, asked: Optional[str] = None) -> str:
    """generate for a model with a language-model head (unless --task forward), else forward;
    --task generate on a model that cannot generate is an error that says why."""
    task = spec.task or asked
    able = rt.can_generate(module)
    if task == "generate" and not able:
        raise ProbeError("cannot-generate", f"{label} loads as {type(module).__name__}, which has no language-model "
                         "head for generate()", "measure it as one forward pass (--task forward), or save the model "
                         "with its generating class (…ForCausalLM, …ForConditionalGeneration)")
    return task or ("generate" if able else "forward")


def _generating(spec: ModelSpec, label: str, kind: str, module: Any, example: Optional[Callable[[int], Any]],
                evaluate: Optional[Callable[[Any], float]]) -> LoadedModel:
    """A model measured generating: seeded prompts of --prompt-len tokens (or the model
    file's example_inputs), --new-tokens new tokens each."""
    prompt_len = spec.prompt_len or DEFAULT_PROMPT_LEN
    new_tokens = spec.new_tokens or DEFAULT_NEW_TOKENS
    limit = rt.max_positions(module)
    # An encoder-decoder's positions hold the prompt; a causal LM's the prompt and the new tokens.
    seq2seq = rt.is_encoder_decoder(module)
    longest = prompt_len if seq2seq else prompt_len + new_tokens
    if example is None and limit is not None and longest > limit:
        raise ProbeError("bad-config", f"--prompt-len {prompt_len} {'' if seq2seq else f'+ --new-tokens {new_tokens} '}"
                         f"is longer than this model takes ({limit} positions)",
                         "give a shorter --prompt-len or fewer --new-tokens")

    def prompts(batch_size: int) -> Any:
        if example is None:
            return rt.prompt_inputs(module, batch_size, prompt_len, seed=torch.initial_seed())
        given = example(batch_size)
        if not isinstance(given, dict) or "input_ids" not in given:
            raise ProbeError("bad-example-inputs", f"example_inputs({batch_size}) in {label} returned "
                             f"{type(given).__name__}{'' if not isinstance(given, dict) else ' without input_ids'}: "
                             "a generating model is called as generate(**inputs)",
                             "return a dict with input_ids (and attention_mask), as a tokenizer does with "
                             "return_tensors='pt'; or measure one forward pass with --task forward")
        return given

    return LoadedModel(label, kind, module, None, None, "int64", USER_TOKEN_RANGE,
                       example_inputs=prompts, evaluate=evaluate, task="generate", new_tokens=new_tokens)


def _folder_evaluate(path: str) -> Optional[Callable[[Any], float]]:
    """A folder may hold graviton_tune_eval.py with evaluate(model) -> float."""
    script = os.path.join(path, "graviton_tune_eval.py")
    if not os.path.isfile(script):
        return None
    module = _import_file(script, "graviton_tune_user_eval")
    evaluate = getattr(module, "evaluate", None)
    return evaluate if callable(evaluate) else None


def _dtype_name(dtype: torch.dtype) -> Optional[str]:
    return {torch.float32: "float32", torch.int64: "int64"}.get(dtype)


def _import_file(path: str, module_name: str) -> Any:
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # let the file import its neighbours
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as err:
        raise ProbeError("missing-package", f"{path} imports {err.name!r}, which is not installed",
                         f"pip install {err.name}") from None
    except Exception as err:  # the user's code: any failure is theirs to see, not a traceback of ours
        raise ProbeError("model-load-failed", f"importing {path} failed: {type(err).__name__}: {err}",
                         "run the file with python to see the full error") from None
    return module


def _load_python(path: str, factory_name: str) -> Tuple[Any, Any]:
    """(the model its factory builds, the imported file)."""
    module_name = "graviton_tune_user_model"
    module = _import_file(path, module_name)
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                         and getattr(v, "__module__", None) == module_name)
        raise ProbeError("factory-failed", f"{path} has no function {factory_name}()"
                         + (f"; it defines {', '.join(defined)}" if defined else ""),
                         f"name the function that builds the model: --model {os.path.basename(path)}:NAME "
                         "(or --factory NAME)")
    try:
        model = factory()
    except ProbeError:
        raise
    except Exception as err:
        raise ProbeError("factory-failed", f"{factory_name}() in {path} raised {type(err).__name__}: {err}",
                         "run the factory by hand to see the full error") from None
    if not callable(model):
        raise ProbeError("factory-failed", f"{factory_name}() returned {type(model).__name__}, not a model",
                         "the factory must return a torch.nn.Module (or a callable taking one input tensor)")
    if isinstance(model, torch.nn.Module):
        model.eval()
    return model, module


def _load_torchscript(path: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(path, map_location="cpu")
    except Exception as err:
        raise ProbeError("model-load-failed", f"{path} is not a TorchScript file: {first_line(err)}",
                         "save it with torch.jit.save(torch.jit.trace(model, example), path), or export it "
                         "with torch.export.save(...) to a .pt2 file") from None
    return module.eval()


def _load_exported(path: str) -> Tuple[Any, Optional[torch.Tensor]]:
    try:
        program = torch.export.load(path)
    except Exception as err:
        raise ProbeError("model-load-failed", f"{path} is not a torch.export file: {first_line(err)}",
                         "save it with torch.export.save(torch.export.export(model, (example,)), path)") from None
    example = None
    inputs = getattr(program, "example_inputs", None)
    if inputs and inputs[0] and isinstance(inputs[0][0], torch.Tensor):
        example = inputs[0][0]
    return program.module(), example  # exported modules are already in inference form: no .eval()


def _onnx_example_inputs(path: str, spec: ModelSpec) -> Callable[[int], Any]:
    """example_inputs for an .onnx file, from its graph (runtime helper's onnx_inputs: the
    deployed app makes its inputs the same way). Problems surface now, naming the input."""
    def make(batch_size: int, notes: Optional[List[str]] = None) -> Any:
        return rt.onnx_inputs(path, batch_size, spec.seq_len, spec.input_shape, seed=torch.initial_seed(), notes=notes)

    notes: List[str] = []
    try:
        make(1, notes)
    except rt.BackendError as err:
        raise ProbeError(err.code, f"{spec.path}: {err.message}" if err.code != "model-load-failed" else err.message,
                         err.hint) from None
    for note in notes:
        emit("log", level="info", message=f"ONNX input {note}")
    return make


def onnx_fixed_batch(path: str) -> Optional[int]:
    return rt.onnx_fixed_batch(rt.onnx_input_specs(path))


class OutputPicker:
    """Reduce a model's output to one tensor, saying once (a `log` event) which one was taken.

    Tuples and lists give their first tensor; dicts (Hugging Face ModelOutput too)
    give 'logits' when present, else their first tensor value.
    """

    def __init__(self) -> None:
        self._told = False

    def __call__(self, output: Any) -> torch.Tensor:
        found = _find_tensor(output, "output")
        if found is None:
            raise ProbeError("bad-output", f"the model returned {type(output).__name__} without any tensor in it",
                             "the model must return a tensor, or a tuple/list/dict whose first tensor is the output")
        tensor, where = found
        if not self._told and where != "output":
            emit("log", level="info", message=f"the model returns {type(output).__name__}: using {where} "
                                              f"(shape {list(tensor.shape)}) as its output")
        self._told = True
        return tensor


def _find_tensor(value: Any, where: str) -> Optional[Tuple[torch.Tensor, str]]:
    if isinstance(value, torch.Tensor):
        return value, where
    if isinstance(value, dict):
        keys = list(value.keys())
        if "logits" in value:
            keys.remove("logits")
            keys.insert(0, "logits")
        for key in keys:
            found = _find_tensor(value[key], f"{where}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            found = _find_tensor(item, f"{where}[{i}]")
            if found is not None:
                return found
    return None

