"""The kernel account (graviton_tune_probe/kernels.py): its parsers on logs recorded from each
runtime (fixtures/kernels: oneDNN's verbose log on this x86 CPU and on an emulated Graviton3,
ONNX Runtime's profile, OpenVINO's runtime model; the _capture_*.py scripts beside them record
them again), and real probes whose configuration's name is or is not what ran."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from graviton_tune_probe import kernels

HERE = Path(__file__).parent / "fixtures" / "kernels"


def onednn(name: str, machine: str):
    return kernels.parse_onednn_verbose((HERE / name).read_text().splitlines(), machine)


def families(found):
    return [(p["family"], p["precision"], p["kernel"]) for p in found]


# ------------------------------------------------------------------ oneDNN's verbose log

def test_x86_fp32_convolution_and_no_matmul_in_onednn():
    found, warnings = onednn("onednn-x86-avx512-fp32.log", "x86_64")
    # The Linear is MKL's on x86 fp32: not in oneDNN's log (the profiler adds it).
    assert families(found) == [("convolution", "fp32", "jit:avx512_core")]
    assert found[0]["shape"].startswith("mb2_ic3oc16") and found[0]["seconds"] > 0
    assert warnings == []


def test_x86_bf16_math_asked_on_a_cpu_without_bf16_runs_fp32():
    found, _ = onednn("onednn-x86-avx512-fpmath-bf16.log", "x86_64")
    assert families(found) == [("convolution", "fp32", "jit:avx512_core"), ("matmul", "fp32", "brg_matmul:avx512_core")]
    assert all(p["asked"] == "bf16" and "computes in fp32" in p["note"] for p in found)


def test_x86_bf16_autocast_without_bf16_instructions_is_emulated():
    found, warnings = onednn("onednn-x86-avx512-autocast-bf16.log", "x86_64")
    assert families(found)[0] == ("convolution", "bf16", "jit_bf16:avx512_core")
    assert found[0]["note"] == "bf16 emulated: avx512_core has no bf16 instructions"
    assert len(warnings) == 1 and "emulated" in warnings[0]


def test_graviton3_acl_kernels_and_bf16_math_where_acl_did_it():
    fp32, _ = onednn("onednn-graviton3-fp32.log", "aarch64")
    assert families(fp32) == [("convolution", "fp32", "indirect_gemm:acl")]
    bf16, _ = onednn("onednn-graviton3-fpmath-bf16.log", "aarch64")
    # Recorded under emulated Graviton3 (torch 2.9.1): the convolution got bf16 weights and
    # bf16 math from ACL; the Linear ran gemm:acl with no fpmath attribute, in fp32.
    assert families(bf16) == [("convolution", "bf16", "indirect_gemm:acl"), ("matmul", "fp32", "gemm:acl")]


def test_a_hot_reference_kernel_is_a_warning_with_its_cause():
    # oneDNN 2.x's layout (no "v1", "_" between role and type), written from its documented format.
    lines = ["onednn_verbose,exec,cpu,convolution,ref:any,forward_inference,src_u8::blocked:abcd:f0 wei_s8::blocked:abcd:f0 "
             "bia_f32::blocked:a:f0 dst_u8::blocked:abcd:f0,,alg:convolution_direct,mb1_ic3oc8_ih7oh5kh3,4.0",
             "onednn_verbose,exec,cpu,convolution,gemm:acl,forward_inference,src_f32::blocked:acdb:f0 wei_f32::blocked:Acdb4a:f0 "
             "bia_f32::blocked:a:f0 dst_f32::blocked:acdb:f0,,alg:convolution_direct,mb1_ic8oc8_ih5oh5kh1,1.0"]
    found, warnings = kernels.parse_onednn_verbose(lines, "aarch64")
    assert families(found) == [("convolution", "int8", "ref:any"), ("convolution", "fp32", "gemm:acl")]
    assert len(warnings) == 1
    assert "ref:any" in warnings[0] and "80%" in warnings[0] and "mb1_ic3oc8_ih7oh5kh3" in warnings[0] and "u8/s8/u8" in warnings[0]
    assert "layout src:abcd wei:abcd" in warnings[0]
    x86, _ = onednn("onednn-x86-avx512-fp32.log", "x86_64")
    assert x86[0]["layout"] == "src:abcd wei:Acdb16a"


def test_profiler_operators_are_added_only_where_onednn_did_not_run_them():
    primitives, _ = onednn("onednn-x86-avx512-fpmath-bf16.log", "x86_64")
    op = lambda name, dtype="float", us=100.0: SimpleNamespace(name=name, input_dtypes=[dtype, dtype], self_cpu_time_total=us)  # noqa: E731
    events = [op("aten::mkldnn_convolution"), op("aten::addmm"), op("aten::_weight_int8pack_mm", "float"), op("aten::relu")]
    groups = kernels.merge_torch(primitives, kernels.torch_operators(events)).listed()
    got = {(g["family"], g["precision"], g["kernel"]): g["count"] for g in groups}
    # The convolution and the addmm are oneDNN's (matched to its primitives); the int8 weight matmul is not.
    assert got == {("convolution", "fp32", "jit:avx512_core"): 1, ("matmul", "fp32", "brg_matmul:avx512_core"): 1,
                   ("matmul", "int8", "aten _weight_int8pack_mm"): 1}
    # Without a oneDNN primitive for it, an aten matmul is counted as not oneDNN's.
    alone = kernels.merge_torch([], kernels.torch_operators([op("aten::addmm")])).listed()
    assert [(g["kernel"], g["precision"]) for g in alone] == [("aten addmm outside oneDNN", "fp32")]


def test_torchs_slow_convolution_path_in_a_hot_layer_is_a_warning_with_its_shape():
    slow = SimpleNamespace(name="aten::_slow_conv2d_forward", input_dtypes=["float", "float"], self_cpu_time_total=300.0,
                           input_shapes=[[1, 16, 32, 32], [32, 16, 3, 3]])
    fast = SimpleNamespace(name="mkl::_mkl_linear", input_dtypes=["float"], self_cpu_time_total=700.0, input_shapes=[[1, 64]])
    operators = kernels.torch_operators([slow, fast])
    warnings = kernels.slow_path_warnings(operators, 0.001)
    assert len(warnings) == 1
    assert "_slow_conv2d_forward) ran 1 convolution(s), 30% of the compute" in warnings[0]
    assert "input 1x16x32x32 with weights 32x16x3x3, types float/float" in warnings[0]
    assert kernels.slow_path_warnings(operators[1:], 0.001) == []


# ------------------------------------------------------------------ ONNX Runtime and OpenVINO

def test_onnxruntime_profile_names_the_quantized_operators():
    events = json.loads((HERE / "onnxruntime-x86-avx512-int8.json").read_text())
    groups = kernels.parse_onnxruntime_profile(events).listed()
    got = {(g["family"], g["precision"], g["kernel"]): g["count"] for g in groups}
    assert got == {("convolution", "int8", "CPU QLinearConv"): 2, ("matmul", "int8", "CPU QGemm"): 1}
    assert all(g["seconds"] > 0 for g in groups)


def test_openvino_runtime_model_precisions_on_x86():
    layers = json.loads((HERE / "openvino-x86-avx512-int8.json").read_text())
    groups, warnings = kernels.parse_openvino_layers(map(tuple, layers))
    got = {(g["family"], g["precision"], g["kernel"]): g["count"] for g in groups.listed()}
    assert got == {("convolution", "int8", "brgconv_avx512_I8"): 2, ("matmul", "int8", "brgemm_avx512_i8"): 1}
    assert warnings == []


def test_openvino_int8_under_emulated_graviton3_runs_its_convolutions_in_fp32_reference_kernels():
    # Recorded under emulated Graviton3 (OpenVINO 2026.4.1, NNCF int8 of the same net): the
    # Arm CPU plugin ran both convolutions in fp32 on reference kernels; only the
    # FullyConnected layer ran int8 (ACL). "OpenVINO int8" there is a third int8 by layers.
    layers = json.loads((HERE / "openvino-graviton3-int8.json").read_text())
    groups, warnings = kernels.parse_openvino_layers(map(tuple, layers))
    got = {(g["family"], g["precision"], g["kernel"]): g["count"] for g in groups.listed()}
    assert got == {("convolution", "fp32", "ref_any_f32"): 2, ("matmul", "int8", "gemm_acl_i8"): 1}
    assert len(warnings) == 1 and "2 compute layer(s) on reference kernels" in warnings[0]


def test_openvino_profiles_time_each_layer_and_name_its_precision():
    x86 = json.loads((HERE / "openvino-x86-avx512-int8-profile.json").read_text())
    groups, warnings = kernels.parse_openvino_profile(map(tuple, x86))
    got = {(g["family"], g["precision"], g["kernel"]): g["count"] for g in groups.listed()}
    # FullyConnectedQuantizedLegacy is the CPU plugin's name for the int8 FullyConnected it ran.
    assert got == {("convolution", "int8", "brgconv_avx512_I8"): 2, ("matmul", "int8", "brgemm_avx512_i8"): 1}
    assert warnings == [] and all(g["seconds"] > 0 for g in groups.listed())
    # Under emulated Graviton3, timed: the two fp32 reference convolutions take nearly all of the time
    # (emulated times, but one call, side by side), the int8 FullyConnected a few percent.
    arm = json.loads((HERE / "openvino-graviton3-int8-profile.json").read_text())
    groups, warnings = kernels.parse_openvino_profile(map(tuple, arm))
    listed = groups.listed()
    int8 = sum(g["seconds"] for g in listed if g["precision"] == "int8") / sum(g["seconds"] for g in listed)
    assert int8 < 0.1
    assert len(warnings) == 1 and "2 Convolution (ref_any_f32) layer(s) on a reference kernel" in warnings[0]
    assert kernels.openvino_exec_precision("ref_any_f16") == "fp16"
    assert kernels.openvino_exec_precision("brgconv_avx512_amx_bf16") == "bf16"


def test_onnxruntime_int8_under_emulated_graviton3_runs_int8_operators():
    events = json.loads((HERE / "onnxruntime-graviton3-int8.json").read_text())
    groups = kernels.parse_onnxruntime_profile(events).listed()
    assert {g["precision"] for g in groups} == {"int8"}
    assert sum(g["count"] for g in groups if g["family"] == "convolution") == 2


def test_reference_layers_in_openvino_are_warned_about():
    groups, warnings = kernels.parse_openvino_layers([("Convolution", "f32", "ref_any_f32"), ("MatMul", "f16", "gemm_acl_f16")])
    assert {(g["family"], g["precision"]) for g in groups.listed()} == {("convolution", "fp32"), ("matmul", "fp16")}
    assert len(warnings) == 1 and "ref_any_f32" in warnings[0]


# ------------------------------------------------------------------ real probes

TOY = {"model": {"name": "toy"}, "budgetSeconds": 0.6, "warmupIterations": 1, "batchSize": 2}


def _cpu_has_native_bf16() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return any(f in flags for f in ("avx512_bf16", "amx_bf16", " bf16"))


def test_a_probe_accounts_for_its_kernels_and_says_so_without_touching_the_figure(probe):
    run = probe(TOY)
    assert run.returncode == 0, run.stderr
    account = run.result["kernels"]
    assert account["source"] == "oneDNN verbose and the torch profiler"
    assert account["pass"] == kernels.PASS_WORDS
    convolutions = [g for g in account["groups"] if g["family"] == "convolution"]
    assert sum(g["count"] for g in convolutions) == 2 and {g["precision"] for g in convolutions} == {"fp32"}
    assert all(g["kernel"] and g["seconds"] > 0 for g in convolutions)
    # The protocol's stdout stayed JSON lines while oneDNN printed its log (run_probe parses every line).


def test_bf16_math_asked_on_this_cpu_is_recorded_as_what_ran(probe):
    run = probe({**TOY, "fp32Precision": "bf16"})
    assert run.returncode == 0, run.stderr
    convolutions = [g for g in run.result["kernels"]["groups"] if g["family"] == "convolution"]
    assert convolutions and all(g.get("asked") == "bf16" for g in convolutions)
    if _cpu_has_native_bf16():
        assert {g["precision"] for g in convolutions} == {"bf16"}
    else:  # this CPU has no bf16 instructions: oneDNN kept fp32 math, and the account says so
        assert {g["precision"] for g in convolutions} == {"fp32"}
        assert all("computes in fp32" in g["note"] for g in convolutions)


def test_pt2e_int8_runs_int8_convolutions(probe):
    run = probe({**TOY, "quantization": "int8"}, timeout=300)
    assert run.returncode == 0, run.stderr
    convolutions = [g for g in run.result["kernels"]["groups"] if g["family"] == "convolution"]
    assert sum(g["count"] for g in convolutions) == 2, run.result["kernels"]
    assert {g["precision"] for g in convolutions} == {"int8"}, run.result["kernels"]
