"""What really ran: a probe's kernel account, from each runtime's own record of its work.

A configuration's name is a promise ("bf16 fast math", "int8", "OpenVINO int8"); the timing
and the output check say nothing about which kernels did the work. After the timed
iterations (so the figure is untouched), one more call of the served model is made with the
runtime's own account switched on, and its compute operations (convolutions, matmuls,
attention) are grouped by family, precision and kernel:

- torch (eager, torch.compile, PT2E int8, torchao weights): oneDNN's verbose log of that call
  (every primitive it executed: kind, implementation such as brg_conv_fwd:avx512_core or
  gemm:acl, data types, attr-fpmath) and the torch profiler's operators for the work oneDNN
  did not do (MKL's packed linear, torchao's int8/int4 matmuls, attention, slow convolution
  paths). An aten matmul may run in oneDNN or not (MKL on x86 for fp32, oneDNN for bf16 or
  under fp32Precision bf16), so per family and precision the oneDNN primitives are matched
  to the profiler's operators by count, and only the unmatched ones are added.
- ONNX Runtime: its own profile of a second session on the same graph and options (the timed
  session is never profiled): each node's operator type, execution provider and input types.
- OpenVINO: its per-layer profile (PERF_COUNT) of one call on a second compile of the same
  model (the timed one never counts): each executed layer's type, primitive and time (e.g.
  brgconv_avx512_I8, gemm_acl_f16, ref_any_f32); where that cannot run, the compiled model's
  runtime model (each layer's execution precision and primitive, shares by layer count).

Precision is what the math ran in: int8/int4 from the quantized types, else the data type;
an fp32 primitive with attr-fpmath:bf16 counts as bf16 only where its kernel can do bf16 math
(x86: an ISA with bf16 or AMX; aarch64: Arm Compute Library kernels, or bf16 in the name),
and is otherwise reported as fp32 with the reason. Reference kernels (ref:any) taking a
noticeable share (and torch's own slow convolution loops, _slow_conv2d_forward), and bf16
emulated on an x86 ISA without bf16 instructions, are warnings.

The account (result field "kernels"; KernelAccount in source/core/types.ts):
  {"source": …, "pass": …, "groups": [{"family", "precision", "kernel", "count", "seconds",
   "asked"?: "bf16", "note"?: …}], "warnings": [...]}
"""
from __future__ import annotations

import json
import os
import platform
import re
import sys
import tempfile
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

# A reference kernel is worth a warning from this share of the compute time.
REFERENCE_SHARE = 0.05

PASS_WORDS = "one untimed call after the timed ones"

# oneDNN primitive kinds that are compute, by family.
_ONEDNN_FAMILIES = {"convolution": "convolution", "deconvolution": "convolution", "matmul": "matmul",
                    "inner_product": "matmul"}

# Torch operators (profiler names) that do compute: family, and whether oneDNN runs them
# ("onednn": always, "maybe": depends on type and platform, "never": another library).
_TORCH_OPS: Dict[str, Tuple[str, str]] = {
    "aten::mkldnn_convolution": ("convolution", "onednn"),
    "aten::mkldnn_convolution_transpose": ("convolution", "onednn"),
    "mkldnn::_convolution_pointwise": ("convolution", "onednn"),
    "mkldnn::_convolution_pointwise_": ("convolution", "onednn"),
    "mkldnn::_convolution_transpose_pointwise": ("convolution", "onednn"),
    "onednn::qconv2d_pointwise": ("convolution", "onednn"),
    "onednn::qconv_pointwise": ("convolution", "onednn"),
    "aten::_slow_conv2d_forward": ("convolution", "never"),
    "aten::slow_conv_dilated2d": ("convolution", "never"),
    "aten::slow_conv_transpose2d": ("convolution", "never"),
    "aten::_nnpack_spatial_convolution": ("convolution", "never"),
    "mkldnn::_linear_pointwise": ("matmul", "onednn"),
    "aten::mkldnn_linear": ("matmul", "onednn"),
    "onednn::qlinear_pointwise": ("matmul", "onednn"),
    "aten::addmm": ("matmul", "maybe"),
    "aten::mm": ("matmul", "maybe"),
    "aten::bmm": ("matmul", "maybe"),
    "aten::baddbmm": ("matmul", "maybe"),
    "aten::addbmm": ("matmul", "maybe"),
    "aten::_int_mm": ("matmul", "maybe"),
    "mkl::_mkl_linear": ("matmul", "never"),
    "aten::_weight_int8pack_mm": ("matmul", "never"),
    "aten::_weight_int4pack_mm_for_cpu": ("matmul", "never"),
    "aten::_weight_int4pack_mm": ("matmul", "never"),
    "aten::_dyn_quant_matmul_4bit": ("matmul", "never"),
    "quantized::linear_dynamic": ("matmul", "never"),
    "quantized::linear": ("matmul", "never"),
    "aten::_scaled_dot_product_flash_attention_for_cpu": ("attention", "never"),
}

# Operators whose name says the precision, whatever their input types.
_TORCH_OP_PRECISION = {"aten::_weight_int8pack_mm": "int8", "aten::_weight_int4pack_mm_for_cpu": "int4",
                       "aten::_weight_int4pack_mm": "int4", "aten::_dyn_quant_matmul_4bit": "int4",
                       "quantized::linear_dynamic": "int8", "quantized::linear": "int8", "aten::_int_mm": "int8"}

# What a torch operator outside oneDNN is called in the account.
_TORCH_OP_KERNEL = {"mkl::_mkl_linear": "mkl packed linear", "aten::_dyn_quant_matmul_4bit": "kleidiai _dyn_quant_matmul_4bit",
                    "aten::_weight_int8pack_mm": "aten _weight_int8pack_mm",
                    "aten::_weight_int4pack_mm_for_cpu": "aten _weight_int4pack_mm"}

_DTYPE_WORDS = {"f32": "fp32", "float": "fp32", "bf16": "bf16", "c10::BFloat16": "bf16", "bfloat16": "bf16",
                "f16": "fp16", "c10::Half": "fp16", "float16": "fp16", "u8": "int8", "s8": "int8",
                "unsigned char": "int8", "signed char": "int8", "uint8": "int8", "int8": "int8", "i8": "int8",
                "s4": "int4", "u4": "int4", "i4": "int4", "u4_": "int4", "int4": "int4", "uint4": "int4",
                "nf4": "int4", "f8_e4m3": "fp8", "f8_e5m2": "fp8"}


class Groups:
    """Compute operations grouped by (family, precision, kernel, asked math)."""

    def __init__(self) -> None:
        self._groups: "OrderedDict[Tuple[str, str, str, str], Dict[str, Any]]" = OrderedDict()

    def add(self, family: str, precision: str, kernel: str, seconds: Optional[float], asked: str = "",
            note: Optional[str] = None, count: int = 1) -> None:
        """One operation (or `count`); seconds None where the runtime does not time them (shares by count)."""
        key = (family, precision, kernel, asked)
        group = self._groups.get(key)
        if group is None:
            group = {"family": family, "precision": precision, "kernel": kernel, "count": 0}
            if seconds is not None:
                group["seconds"] = 0.0
            if asked:
                group["asked"] = asked
            if note:
                group["note"] = note
            self._groups[key] = group
        group["count"] += count
        if seconds is not None and "seconds" in group:
            group["seconds"] += max(0.0, seconds)

    def listed(self) -> List[Dict[str, Any]]:
        return sorted(self._groups.values(), key=lambda g: (-g.get("seconds", 0.0), -g["count"]))


# ---------------------------------------------------------------- oneDNN's verbose log

_MD = re.compile(r"\b(src|wei|dst)[:_]([a-z0-9_]+?)(?=:|\s|$)")


def _primitive_fields(line: str) -> Optional[List[str]]:
    """The fields after "exec" of a oneDNN verbose primitive line (any version's layout), or None."""
    parts = line.strip().split(",")
    if not parts or not parts[0].endswith("_verbose"):
        return None
    try:
        at = parts.index("exec")
    except ValueError:
        return None
    if "graph" in parts[:at]:
        return None  # oneDNN Graph partitions: torch's fusion path, not primitives
    fields = parts[at + 1:]
    return fields if len(fields) >= 8 else None


def _bf16_math_kernel(impl: str, machine: str) -> bool:
    """Whether a oneDNN implementation honours attr-fpmath:bf16 (does its math in bf16)."""
    name = impl.lower()
    if machine in ("aarch64", "arm64"):
        return "acl" in name or "bf16" in name
    isa = _isa(name)  # x86: the ISA after the colon (jit_bf16:avx512_core is bf16 emulated on avx512_core)
    return "bf16" in isa or "amx" in isa


def _isa(impl: str) -> str:
    return impl.split(":", 1)[1] if ":" in impl else impl


def parse_onednn_verbose(lines: Iterable[str], machine: Optional[str] = None) -> Tuple[List[Dict[str, Any]], List[str]]:
    """oneDNN's exec lines -> compute primitives [{family, precision, kernel, seconds, asked?, note?,
    shape, layout, types}] in order, and the warnings they raise."""
    machine = machine or platform.machine()
    found: List[Dict[str, Any]] = []
    for line in lines:
        fields = _primitive_fields(line)
        if fields is None:
            continue
        kind, impl, mds, attrs, problem, ms = fields[1], fields[2], fields[4], fields[5], fields[-2], fields[-1]
        family = _ONEDNN_FAMILIES.get(kind)
        if family is None:
            continue
        types = dict((role, dtype) for role, dtype in _MD.findall(mds))
        weights = types.get("wei", types.get("src", "f32"))
        precision = _DTYPE_WORDS.get(weights, weights)
        asked, note = "", None
        fpmath = re.search(r"attr-fpmath:([a-z0-9]+)", attrs)
        if precision == "fp32" and fpmath and fpmath.group(1) in ("bf16", "f16"):
            asked = "bf16" if fpmath.group(1) == "bf16" else "fp16"
            if _bf16_math_kernel(impl, machine):
                precision = asked
            else:
                note = f"{asked} math asked (attr-fpmath), but {impl} computes in fp32"
        elif precision == "bf16" and machine not in ("aarch64", "arm64") and not _bf16_math_kernel(impl, machine):
            note = f"bf16 emulated: {_isa(impl)} has no bf16 instructions"
        try:
            seconds = float(ms) / 1000.0
        except ValueError:
            seconds = 0.0
        layout = " ".join(f"{md[:3]}:{_format_tag(md)}" for md in mds.split() if md[:3] in ("src", "wei"))
        found.append({"family": family, "precision": precision, "kernel": impl, "seconds": seconds,
                      "asked": asked, "note": note, "shape": problem, "layout": layout,
                      "types": "/".join(types.get(r, "?") for r in ("src", "wei", "dst"))})
    return found, _onednn_warnings(found)


def _format_tag(md: str) -> str:
    """A memory descriptor's format tag: "abcd" of src:f32:a:blocked:abcd::f0 (or src_f32::blocked:abcd:f0)."""
    parts = md.split(":")
    return parts[parts.index("blocked") + 1] if "blocked" in parts[:-1] else "?"


def _onednn_warnings(found: List[Dict[str, Any]]) -> List[str]:
    total = sum(p["seconds"] for p in found) or 1.0
    warnings: List[str] = []
    reference: Dict[str, Dict[str, Any]] = {}
    for p in found:
        if p["kernel"].startswith("ref") or ":ref" in p["kernel"]:
            r = reference.setdefault(p["kernel"] + p["family"], {**p, "total": 0.0, "n": 0})
            r["total"] += p["seconds"]
            r["n"] += 1
    for r in reference.values():
        if r["total"] / total >= REFERENCE_SHARE:
            warnings.append(f"reference kernel {r['kernel']} ran {r['n']} {r['family']}(s), "
                            f"{100 * r['total'] / total:.0f}% of oneDNN's compute time: no optimized path for "
                            f"shape {r['shape']}, layout {r['layout'] or '?'}, types {r['types']}")
    emulated = [p for p in found if p["note"] and p["note"].startswith("bf16 emulated")]
    if emulated:
        warnings.append(f"{len(emulated)} bf16 {emulated[0]['family']}(s) ran emulated ({emulated[0]['kernel']}): "
                        "this CPU has no bf16 instructions, so bf16 is a storage format here, not faster math")
    return warnings


# ---------------------------------------------------------------- the torch profiler

def _profiled_precision(name: str, dtypes: List[str]) -> str:
    if name in _TORCH_OP_PRECISION:
        return _TORCH_OP_PRECISION[name]
    for dtype in dtypes:
        word = _DTYPE_WORDS.get(dtype)
        if word is not None:
            return word
    return "fp32"


def torch_operators(events: Iterable[Any]) -> List[Dict[str, Any]]:
    """The profiler's compute operators [{name, family, route, precision, seconds}] in order."""
    found = []
    for e in events:
        known = _TORCH_OPS.get(e.name)
        if known is None:
            continue
        family, route = known
        dtypes = [str(t) for t in (getattr(e, "input_dtypes", None) or []) if t]
        shapes = [list(s) for s in (getattr(e, "input_shapes", None) or []) if s][:2]
        found.append({"name": e.name, "family": family, "route": route,
                      "precision": _profiled_precision(e.name, dtypes),
                      "seconds": float(getattr(e, "self_cpu_time_total", 0.0)) / 1e6, "shapes": shapes,
                      "types": "/".join(dtypes[:2])})
    return found


# torch's own convolution loops: what runs where oneDNN (and NNPACK) take no part.
_SLOW_PATHS = ("aten::_slow_conv2d_forward", "aten::slow_conv_dilated2d", "aten::slow_conv_transpose2d")


def slow_path_warnings(operators: List[Dict[str, Any]], total_seconds: float) -> List[str]:
    """torch's reference convolution loops taking REFERENCE_SHARE or more of the compute: with the shapes and types."""
    warnings = []
    for name in _SLOW_PATHS:
        ops = [o for o in operators if o["name"] == name]
        seconds = sum(o["seconds"] for o in ops)
        if not ops or total_seconds <= 0 or seconds / total_seconds < REFERENCE_SHARE:
            continue
        first = ops[0]
        shape = " with weights ".join("x".join(str(d) for d in s) for s in first["shapes"]) or "?"
        warnings.append(f"torch's slow convolution path ({name.split('::')[1]}) ran {len(ops)} convolution(s), "
                        f"{100 * seconds / total_seconds:.0f}% of the compute, not oneDNN: input {shape}, "
                        f"types {first['types'] or '?'} (torch sends a convolution there when it judges oneDNN "
                        "not worth it for the shape, e.g. at batch 1, or cannot use it for the layout or type)")
    return warnings


def merge_torch(primitives: List[Dict[str, Any]], operators: List[Dict[str, Any]]) -> Groups:
    """oneDNN's primitives, plus the profiler's compute operators oneDNN did not run: per family
    and precision (the data type before any fpmath), operators that may run in oneDNN are
    matched to its primitives by count; the unmatched ones, and those never in oneDNN, are added."""
    groups = Groups()
    onednn_counts: Dict[Tuple[str, str], int] = {}
    for p in primitives:
        groups.add(p["family"], p["precision"], p["kernel"], p["seconds"], p["asked"], p["note"])
        key = (p["family"], "fp32" if p["asked"] else p["precision"])  # the data type it was given
        onednn_counts[key] = onednn_counts.get(key, 0) + 1
    for op in sorted(operators, key=lambda o: {"onednn": 0, "maybe": 1, "never": 2}[o["route"]]):
        key = (op["family"], op["precision"])
        if op["route"] != "never" and onednn_counts.get(key, 0) > 0:
            onednn_counts[key] -= 1
            continue
        if op["route"] == "onednn" and primitives:
            continue  # oneDNN ran it, its primitive is listed (under another type, e.g. int8 in, fp32 out)
        kernel = _TORCH_OP_KERNEL.get(op["name"], op["name"].replace("::", " "))
        if op["route"] == "maybe":
            kernel = f"{kernel} outside oneDNN"
        groups.add(op["family"], op["precision"], kernel, op["seconds"])
    return groups


class _StdoutToFile:
    """fd 1 into a temporary file for a while: oneDNN prints its verbose log with printf,
    and this process's stdout carries the protocol's JSON lines."""

    def __enter__(self) -> "_StdoutToFile":
        sys.stdout.flush()
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(1)
        os.dup2(self._file.fileno(), 1)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            sys.stdout.flush()
            try:
                import ctypes

                ctypes.CDLL(None).fflush(None)  # C stdio's buffer, where oneDNN wrote
            except Exception:
                pass
        finally:
            os.dup2(self._saved, 1)
            os.close(self._saved)

    def text(self) -> str:
        self._file.seek(0)
        data = self._file.read().decode("utf-8", "replace")
        self._file.close()
        return data


def torch_account(call: Callable[[], Any]) -> Dict[str, Any]:
    """One call under oneDNN's verbose log and the torch profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    mkldnn = torch.backends.mkldnn
    capture = _StdoutToFile()
    with capture:
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            if mkldnn.is_available():
                with mkldnn.verbose(mkldnn.VERBOSE_ON):
                    call()
            else:
                call()
    primitives, warnings = parse_onednn_verbose(capture.text().splitlines())
    operators = torch_operators(prof.events())
    listed = merge_torch(primitives, operators).listed()
    warnings += slow_path_warnings(operators, sum(g.get("seconds", 0.0) for g in listed))
    return {"source": "oneDNN verbose and the torch profiler", "groups": listed, "warnings": warnings}


# ---------------------------------------------------------------- ONNX Runtime

_ORT_FAMILIES = {"Conv": "convolution", "NhwcConv": "convolution", "FusedConv": "convolution",
                 "NchwcConv": "convolution", "QLinearConv": "convolution", "ConvInteger": "convolution",
                 "ConvTranspose": "convolution", "Gemm": "matmul", "MatMul": "matmul", "FusedMatMul": "matmul",
                 "QGemm": "matmul", "MatMulInteger": "matmul", "QLinearMatMul": "matmul",
                 "MatMulIntegerToFloat": "matmul", "DynamicQuantizeMatMul": "matmul", "MatMulNBits": "matmul",
                 "QAttention": "attention", "Attention": "attention", "MultiHeadAttention": "attention",
                 "GroupQueryAttention": "attention", "DynamicQuantizeLSTM": "matmul"}
_ORT_INT8 = {"QLinearConv", "ConvInteger", "QGemm", "MatMulInteger", "QLinearMatMul", "MatMulIntegerToFloat",
             "DynamicQuantizeMatMul", "QAttention", "DynamicQuantizeLSTM"}


def parse_onnxruntime_profile(events: List[Dict[str, Any]]) -> Groups:
    """ONNX Runtime's profile (its JSON trace) -> compute groups by operator and provider."""
    groups = Groups()
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        args = e.get("args", {})
        op = args.get("op_name", "")
        family = _ORT_FAMILIES.get(op)
        if family is None:
            continue
        if op in _ORT_INT8:
            precision = "int8"
        elif op == "MatMulNBits":
            precision = "int4"
        else:
            first = next(iter(args.get("input_type_shape", [{}])[0] or {}), "float") if args.get("input_type_shape") else "float"
            precision = _DTYPE_WORDS.get(first, first)
        provider = str(args.get("provider", "")).replace("ExecutionProvider", "")
        groups.add(family, precision, f"{provider} {op}".strip(), float(e.get("dur", 0)) / 1e6)
    return groups


def onnxruntime_account(runner: Any, x: Any, call_model: Callable[[Any, Any], Any]) -> Optional[Dict[str, Any]]:
    """A second session on the timed session's graph and options, profiled over one call."""
    session = getattr(runner, "session", None)
    path = getattr(session, "_model_path", None)
    if session is None or not path or not hasattr(runner, "swap_session"):
        return None
    import onnxruntime as ort

    options = session.get_session_options()
    with tempfile.TemporaryDirectory(prefix="gt-ort-profile-") as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "profile")
        profiled = ort.InferenceSession(path, options, providers=session.get_providers())
        original = runner.swap_session(profiled)
        try:
            call_model(runner, x)
        finally:
            runner.swap_session(original)
        with open(profiled.end_profiling()) as f:
            events = json.load(f)
    groups = parse_onnxruntime_profile(events)
    return {"source": "ONNX Runtime's profile of a second session on the same graph", "groups": groups.listed(),
            "warnings": []}


# ---------------------------------------------------------------- OpenVINO

_OV_FAMILIES = {"Convolution": "convolution", "GroupConvolution": "convolution", "Deconvolution": "convolution",
                "FullyConnected": "matmul", "MatMul": "matmul", "FullyConnectedCompressed": "matmul",
                "ScaledDotProductAttention": "attention", "ScaledAttn": "attention"}
def _ov_family(layer_type: str) -> Optional[str]:
    """A layer type's compute family; the CPU plugin's variants too (FullyConnectedQuantizedLegacy, GroupConvolution)."""
    if layer_type in _OV_FAMILIES:
        return _OV_FAMILIES[layer_type]
    if layer_type.startswith("FullyConnected") or layer_type.startswith("MatMul"):
        return "matmul"
    if "Convolution" in layer_type:
        return "convolution"
    return "attention" if "Attention" in layer_type or layer_type.startswith("ScaledAttn") else None


_OV_PRECISION = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "u8": "int8", "i8": "int8", "u4": "int4",
                 "i4": "int4", "nf4": "int4"}


def parse_openvino_layers(layers: Iterable[Tuple[str, str, str]]) -> Tuple[Groups, List[str]]:
    """(layerType, runtimePrecision, primitiveType) per layer -> compute groups (by layer count:
    the runtime model has no times without profiling) and warnings for reference layers."""
    groups = Groups()
    reference = []
    for layer_type, precision, primitive in layers:
        family = _ov_family(layer_type)
        if family is None:
            continue
        groups.add(family, _OV_PRECISION.get(precision.lower(), precision.lower()), primitive, None)
        if primitive.startswith("ref"):
            reference.append(f"{layer_type} ({primitive})")
    warnings = []
    if reference:
        warnings.append(f"OpenVINO ran {len(reference)} compute layer(s) on reference kernels: "
                        + ", ".join(reference[:4]) + (" …" if len(reference) > 4 else ""))
    return groups, warnings


_OV_EXEC_PRECISION = (("i8", "int8"), ("u8", "int8"), ("i4", "int4"), ("u4", "int4"), ("bf16", "bf16"),
                      ("f16", "fp16"), ("fp16", "fp16"), ("f32", "fp32"), ("fp32", "fp32"))


def openvino_exec_precision(exec_type: str) -> str:
    """The precision in an executed primitive's name: brgconv_avx512_I8 -> int8, ref_any_f16 -> fp16."""
    suffix = exec_type.rsplit("_", 1)[-1].lower() if "_" in exec_type else ""
    return next((word for tag, word in _OV_EXEC_PRECISION if suffix == tag), suffix or "?")


def parse_openvino_profile(infos: Iterable[Tuple[str, str, float]]) -> Tuple[Groups, List[str]]:
    """(node_type, exec_type, seconds) per executed layer (OpenVINO's profiling info) -> compute
    groups by time, and warnings for reference kernels taking REFERENCE_SHARE or more."""
    groups = Groups()
    timed = [(t, e, sec) for t, e, sec in infos if _ov_family(t)]
    total = sum(sec for _, _, sec in timed) or 1.0
    reference: Dict[str, List[float]] = {}
    for layer_type, exec_type, seconds in timed:
        groups.add(_ov_family(layer_type), openvino_exec_precision(exec_type), exec_type, seconds)
        if exec_type.startswith("ref"):
            reference.setdefault(f"{layer_type} ({exec_type})", []).append(seconds)
    warnings = [f"OpenVINO ran {len(times)} {what} layer(s) on a reference kernel, {100 * sum(times) / total:.0f}% of "
                "the compute time: this CPU plugin has no optimized kernel for that layer in that precision"
                for what, times in reference.items() if sum(times) / total >= REFERENCE_SHARE]
    return groups, warnings


def openvino_account(runner: Any, x: Any = None, call_model: Optional[Callable[[Any, Any], Any]] = None
                     ) -> Optional[Dict[str, Any]]:
    compiled = getattr(runner, "compiled_model", None)
    if compiled is None:
        return None
    profile = getattr(runner, "profile", None)
    if profile is not None and call_model is not None:
        # Timed per layer: one call on a second compile with OpenVINO's counters on.
        infos = call_model(profile, x)
        rows = [(str(i.node_type), str(i.exec_type), i.real_time.total_seconds()) for i in infos
                if str(getattr(i, "status", "")).endswith(".EXECUTED")]
        groups, warnings = parse_openvino_profile(rows)
        if groups.listed():
            return {"source": "OpenVINO's per-layer profile of a second compile of the same model (PERF_COUNT)",
                    "groups": groups.listed(), "warnings": warnings}
    layers = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layers.append(tuple(info[k].astype(str) if k in info else "" for k in ("layerType", "runtimePrecision",
                                                                                 "primitiveType")))
    groups, warnings = parse_openvino_layers(layers)
    return {"source": "OpenVINO's runtime model (each layer's execution precision and primitive; "
                      "shares by layer count)", "groups": groups.listed(), "warnings": warnings}


# ---------------------------------------------------------------- one probe

def account(model: Any, backend: str, call: Callable[[], Any], x: Any,
            call_model: Callable[[Any, Any], Any]) -> Optional[Dict[str, Any]]:
    """The kernel account of the served model (what optimize() returned), or None when the
    runtime gives none. `call()` runs it once, as the timed loop does."""
    if backend == "onnxruntime":
        found = onnxruntime_account(getattr(model, "runner", model), x, call_model)
    elif backend == "openvino":
        found = openvino_account(getattr(model, "runner", model), x, call_model)
    else:
        found = torch_account(call)
    if found is None:
        return None
    read_only = backend == "openvino" and "seconds" not in (found["groups"] or [{}])[0]
    return {**found, "pass": "no extra call: read from the compiled model" if read_only else PASS_WORDS}
