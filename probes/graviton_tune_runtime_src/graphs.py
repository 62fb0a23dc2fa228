"""What ONNX Runtime and OpenVINO share: feeding graph inputs, the ONNX export, graph facts."""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .base import BackendError, Log, _short
from .inputs import _Flat, _flat_tensors, _map_tensors, named_tensors, split_inputs

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
