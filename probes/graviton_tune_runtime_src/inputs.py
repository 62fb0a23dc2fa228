"""A model's inputs: their three forms, real samples, token inputs, inputs of an .onnx file."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from .base import PIP_ORT, BackendError, Log, _require, _short

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
