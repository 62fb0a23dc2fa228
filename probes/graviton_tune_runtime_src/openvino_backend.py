"""OpenVINO on "CPU" (conversion, NNCF int8, the precision hint as measured)."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch

from .base import PIP_NNCF, PIP_OPENVINO, BackendError, Log, Phase, _cpu_has_bf16, _hooks, _opt, _require, _short
from .common import (
    CALIBRATION_BATCHES,
    _bf16_requested,
    _calibration_label,
    _calibration_samples,
    _int8_requested,
    _one_or_many,
    _threads,
)
from .graphs import _feeder, _first_call_guard, _Flat, _onnx_path
from .inputs import call_model, named_tensors

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
