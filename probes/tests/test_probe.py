"""The probe, end to end: a subprocess per configuration, as graviton-tune runs it.

Models are tiny (the built-in "toy" and fixtures) so the whole file stays fast;
timings on a shared machine are noisy, so figures are checked for sanity, not speed.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import FIXTURES, PROBES, launched

TOY = {"model": {"name": "toy"}, "budgetSeconds": 0.6, "warmupIterations": 1}
RESULT_FIELDS = {"samplesPerSecond", "latencyMs", "iterations", "batchSize", "setupSeconds", "warmupSeconds",
                 "measureSeconds", "converged", "peakRssBytes", "allocators", "check"}


def config(**overrides):
    return {**TOY, **overrides}


def assert_error(run, code):
    assert run.returncode == 2, run.stderr
    assert run.result is None
    assert run.events[-1]["type"] == "error", run.events
    error = run.error
    assert error["code"] == code, error
    assert error["message"] and "hint" in error
    assert "Traceback" not in run.stderr
    return error


# ------------------------------------------------------------------ results


def test_toy_eager_result_has_all_fields(probe):
    run = probe(config(batchSize=2))
    assert run.returncode == 0, run.stderr
    start = run.events[0]
    assert start["type"] == "start" and start["pid"] > 0 and start["threads"] >= 1
    assert start["python"].count(".") == 2 and start["torch"]

    phases = [(e["phase"], "seconds" in e) for e in run.of_type("phase")]
    assert phases == [("load", False), ("load", True), ("reference", False), ("reference", True),
                      ("warmup", False), ("warmup", True), ("measure", False), ("measure", True)]

    result = run.result
    assert run.events[-1] is result
    assert RESULT_FIELDS <= set(result)
    rate = result["samplesPerSecond"]
    assert 0 < rate["ciLow"] <= rate["median"] <= rate["ciHigh"]
    latency = result["latencyMs"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"]
    assert result["iterations"] >= 5 and result["batchSize"] == 2
    assert result["setupSeconds"] >= result["warmupSeconds"] > 0
    assert 0 < result["measureSeconds"] <= 0.6 + 0.2
    assert result["peakRssBytes"] > 10 * 2**20
    assert result["check"] == {"cosine": pytest.approx(1.0), "maxAbsError": 0.0, "top1Agreement": 1.0,
                               "data": "random", "rows": 2}
    assert "workers" not in result

    progress = run.of_type("progress")
    for event in progress:
        assert set(event) == {"type", "samplesPerSecond", "iterations", "elapsedSeconds", "relativeCi"}
    assert len(progress) <= result["measureSeconds"] * 4 + 1  # at most ~4 per second


def _installed_library(name: str):
    """The versioned allocator library the loader knows (ldconfig), as the tool's detection finds it."""
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        if fields and fields[0].startswith(f"lib{name}.so.") and "=>" in fields:
            return fields[-1]
    return None


@pytest.mark.parametrize("name", ["tcmalloc", "jemalloc", "mimalloc"])
def test_a_preloaded_allocator_is_reported_as_loaded(probe, name):
    # `setup --system` (run by npm test) installs all three; by hand, a missing one is skipped.
    library = _installed_library(name)
    if library is None:
        pytest.skip(f"{name} is not installed (graviton-tune setup --system installs it)")
    run = probe(config(), env={"LD_PRELOAD": library, "TBB_ENABLE_SANITIZERS": "1"})
    assert run.returncode == 0, run.stderr
    assert [n for n in run.result["allocators"] if n.startswith(f"lib{name}")], run.result["allocators"]


def test_an_allocator_the_loader_ignored_is_not_reported(probe, tmp_path):
    # Not an ELF file: ld.so says "cannot be preloaded ... ignored" and runs on with glibc's
    # malloc, which is what the probe must then report (the walk drops such a step).
    fake = tmp_path / "libjemalloc.so.2"
    fake.write_text("not a library")
    run = probe(config(), env={"LD_PRELOAD": str(fake)})
    assert run.returncode == 0, run.stderr
    assert "cannot be preloaded" in run.stderr
    assert run.result["allocators"] == []


def test_mapped_allocators_reads_the_files_a_process_maps(tmp_path):
    from graviton_tune_probe.run import mapped_allocators
    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libtcmalloc.so.4.5.10\n"
        "7f01-7f02 r--p 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f02-7f03 r--p 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libtcmalloc.so.4.5.10\n"
        "7f03-7f04 rw-p 00000000 00:00 0 [heap]\n")
    assert mapped_allocators(str(maps)) == ["libtcmalloc.so.4.5.10"]
    assert mapped_allocators(str(tmp_path / "absent")) == []


def test_budget_is_respected_when_the_ci_target_is_out_of_reach(probe, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(budgetSeconds=0.5, targetRelativeCi=1e-9, check=False)))
    run = probe(f"@{path}")
    result = run.result
    assert result is not None, run.events
    assert result["converged"] is False
    assert result["measureSeconds"] <= 0.5 + 0.1
    assert result["check"] is None
    assert "reference" not in [e["phase"] for e in run.of_type("phase")]


def test_channels_last_with_bf16_autocast_passes_the_check(probe):
    result = probe(config(batchSize=4, channelsLast=True, autocast="bf16")).result
    assert result is not None
    assert result["check"]["cosine"] > 0.99


def test_the_check_catches_a_model_that_bf16_breaks(probe):
    # fragile_in_bf16.py computes a small difference of large products: fine in fp32,
    # swamped by rounding in bf16. The check must tell the two apart.
    model = {"path": str(FIXTURES / "fragile_in_bf16.py"), "inputShape": [64]}
    fp32 = probe(config(model=model, batchSize=8)).result
    bf16 = probe(config(model=model, batchSize=8, autocast="bf16")).result
    assert fp32["check"]["cosine"] > 0.9999
    assert bf16["check"]["cosine"] < 0.9
    assert bf16["check"]["maxAbsError"] > fp32["check"]["maxAbsError"]


def test_compile_reports_its_phase_and_cost(probe):
    run = probe(config(batchSize=2, compile=True, fp32Precision="bf16", budgetSeconds=0.4))
    result = run.result
    assert result is not None, run.error
    compile_end = [e for e in run.of_type("phase") if e["phase"] == "compile" and "seconds" in e]
    assert len(compile_end) == 1
    assert result["warmupSeconds"] >= compile_end[0]["seconds"]
    assert result["check"]["cosine"] > 0.99


def test_a_compiled_probe_keeps_inductors_work_in_the_folder_it_is_given(probe, tmp_path):
    # graviton-tune points TORCHINDUCTOR_CACHE_DIR at a per-machine folder: the kernels a
    # compiled probe builds land there for the next probe of it (a re-check, a verification
    # pair, the next walk); frozen weights bypass the graph cache itself, and the probe says so.
    folder = tmp_path / "inductor"
    first = probe(config(batchSize=2, compile=True, budgetSeconds=0.3), env={"TORCHINDUCTOR_CACHE_DIR": str(folder)}).result
    assert first is not None
    assert first["inductorCache"]["bypassed"] >= 1 and first["inductorCache"]["hits"] == 0
    assert any(path.suffix == ".so" for path in folder.rglob("*"))  # compiled kernels, kept
    assert "inductorCache" not in probe(config(batchSize=2, budgetSeconds=0.3)).result  # eager: no inductor


@pytest.mark.parametrize("factory, where", [("tuple_model", "output[0]"), ("dict_model", "output['logits']")])
def test_tuple_and_dict_outputs_use_their_first_tensor(probe, factory, where):
    run = probe(config(model={"path": str(FIXTURES / "odd_outputs.py"), "factory": factory, "inputShape": [8]}))
    assert run.result is not None, run.events
    assert run.result["check"]["top1Agreement"] == 1.0
    assert any(where in e["message"] for e in run.of_type("log"))
    # The factory printed, in Python and on fd 1: all of it went to stderr.
    assert "hello from the user's factory" in run.stderr and "native noise on fd 1" in run.stderr


# ------------------------------------------------------------------ user model files


def _toy_files(tmp_path):
    import torch

    from graviton_tune_probe import zoo

    model = zoo.toy().eval()
    example = torch.randn(2, 3, 64, 64)
    scripted = tmp_path / "toy.pt"
    torch.jit.save(torch.jit.trace(model, example), str(scripted))
    dynamic = tmp_path / "toy_dynamic.pt2"
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(model, (example,), dynamic_shapes=({0: batch},)), str(dynamic))
    static = tmp_path / "toy_static.pt2"
    torch.export.save(torch.export.export(model, (example,)), str(static))
    return scripted, dynamic, static


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_and_exported_files(probe, tmp_path):
    scripted, dynamic, static = _toy_files(tmp_path)

    run = probe(config(model={"path": str(scripted), "inputShape": [3, 64, 64]}, batchSize=3))
    assert run.result is not None, run.events
    assert run.result["check"]["cosine"] == pytest.approx(1.0)

    # A .pt2 file carries its example input: the input shape is read from it.
    run = probe(config(model={"path": str(dynamic)}, batchSize=3, channelsLast=True))
    assert run.result is not None, run.events

    error = assert_error(probe(config(model={"path": str(static)}, batchSize=3)), "bad-input-shape")
    assert "Dim('batch')" in error["hint"]


# ------------------------------------------------------------------ errors


ODD = str(FIXTURES / "odd_outputs.py")
BAD_MODELS = {
    "missing-file": ({"path": "/nonexistent/model.py", "inputShape": [8]}, "model-not-found", "/nonexistent/model.py"),
    "factory-raises": ({"path": ODD, "factory": "raising_factory", "inputShape": [8]},
                       "factory-failed", "the weights file is missing"),
    "no-factory": ({"path": ODD, "inputShape": [8]}, "factory-failed", "build_model"),
    "no-shape": ({"path": ODD, "factory": "tuple_model"}, "needs-input-shape", "input shape"),
    "no-tensor": ({"path": ODD, "factory": "no_tensor_model", "inputShape": [8]}, "bad-output", "without any tensor"),
    "oom": ({"path": ODD, "factory": "oom_model", "inputShape": [8]}, "out-of-memory", "did not fit"),
    "wrong-shape": ({"name": "toy", "inputShape": [5]}, "bad-input-shape", "[1, 5]"),
    "unknown": ({"name": "resnet51"}, "unknown-model", "resnet51"),
}


@pytest.fixture(scope="module")
def bad_model_runs():
    """All bad-model probes at once: each is mostly interpreter start-up, so run them side by side."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import run_probe

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case: pool.submit(run_probe, config(model=model)) for case, (model, _, _) in BAD_MODELS.items()}
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_bad_models_give_stable_codes(bad_model_runs, case):
    _, code, needle = BAD_MODELS[case]
    error = assert_error(bad_model_runs[case], code)
    assert needle in error["message"]
    if code == "bad-input-shape":
        assert "--input-shape" in error["hint"]
    if code == "unknown-model":
        assert "resnet50" in error["hint"] and "bert_base" in error["hint"]


def test_onnx_file_needs_an_onnx_backend(probe, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    error = assert_error(probe(config(model={"path": str(path)})), "onnx-needs-onnx-backend")
    assert "onnxruntime" in error["hint"]


TOY_TEXT = json.dumps({"model": {"name": "toy"}})


@pytest.mark.parametrize("text, env, code", [
    ("{not json", {}, "bad-config"),
    ("[1, 2]", {}, "bad-config"),
    (json.dumps({"model": {"name": "toy"}, "budgetSeconds": 0}), {}, "bad-config"),
    (TOY_TEXT, {"GT_BATCH_SIZE": "0"}, "bad-config"),
    (TOY_TEXT, {"GT_AUTOCAST": "fp16"}, "bad-config"),
    (TOY_TEXT, {"GT_WORKERS": "2"}, "needs-torchrun"),
])
def test_bad_configs_give_stable_codes(probe, text, env, code):
    run = probe(text, env=env)
    error = assert_error(run, code)
    assert len(run.events) == 1  # refused before anything started
    if env:
        assert next(iter(env)) in error["message"]  # the variable is named


def test_a_deployment_option_on_the_command_line_names_its_variable(probe):
    # The probe is an app: what the env file holds reaches it as GT_* variables, never as JSON.
    error = assert_error(probe(json.dumps({"model": {"name": "toy"}, "batchSize": 4})), "bad-config")
    assert "batchSize (GT_BATCH_SIZE) is a deployment option" in error["message"]
    assert "GT_BATCH_SIZE=..." in error["hint"]


def test_the_environment_is_the_configuration(probe):
    # Set by hand, as an app's environment is: the probe measures what GT_* says.
    run = probe(TOY_TEXT, env={"GT_BATCH_SIZE": "3", "GT_CHANNELS_LAST": "1", "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert run.result["batchSize"] == 3


# ------------------------------------------------------------------ workers

needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 usable CPUs")


@needs_two_cpus
def test_two_pinned_workers_sum_their_throughput(probe):
    run = probe(config(workers=2, threadsPerWorker=1, budgetSeconds=0.5), workers=2)
    result = run.result
    assert result is not None, (run.events, run.stderr[-2000:])
    assert [e for e in run.events if e["type"] == "start"][0]["world"] == 2
    assert len(run.of_type("start")) == 1  # rank 1 stays off stdout
    workers = result["workers"]
    assert [w["rank"] for w in workers] == [0, 1]
    assert all(len(w["cpus"]) == 1 for w in workers)
    assert not set(workers[0]["cpus"]) & set(workers[1]["cpus"])
    total = sum(w["samplesPerSecond"] for w in workers)
    assert result["samplesPerSecond"]["median"] == pytest.approx(total)
    assert result["check"]["cosine"] == pytest.approx(1.0)


@needs_two_cpus
def test_workers_pin_even_when_openmp_bound_torchrun_to_one_cpu(probe):
    # With OMP_PROC_BIND set, torchrun's own import of torch binds its main thread to one
    # CPU, and the workers it starts inherit that mask: they must still take their slices.
    cpus = sorted(os.sched_getaffinity(0))[:2]
    run = probe(config(workers=2, threadsPerWorker=1, budgetSeconds=0.5, cpuList=cpus), workers=2,
                env={"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"})
    result = run.result
    assert result is not None, (run.error, run.stderr[-2000:])
    assert [w["cpus"] for w in result["workers"]] == [[cpus[0]], [cpus[1]]]


def test_a_cpu_the_process_may_not_use_is_named(probe):
    run = probe(config(cpuList=[0, 4095]))
    assert run.returncode != 0
    assert run.error["code"] == "bad-cpu-list"
    assert "may not use: 4095" in run.error["message"]


@needs_two_cpus
def test_a_failing_worker_is_reported_by_rank_0(probe):
    model = {"path": str(FIXTURES / "fails_on_rank1.py"), "inputShape": [8]}
    run = probe(config(model=model, workers=2, threadsPerWorker=1), workers=2)
    assert run.returncode != 0
    assert run.result is None
    error = run.error
    assert error["code"] == "factory-failed"
    assert error["message"].startswith("worker 1:") and "worker-specific failure" in error["message"]


# ------------------------------------------------------------------ models


def test_builtin_parameter_counts_match_torchvision():
    from graviton_tune_probe import zoo

    expected = {"resnet18": 11_689_512, "resnet50": 25_557_032, "mobilenet_v3_large": 5_483_032,
                "vit_b_16": 86_567_656}
    for name, count in expected.items():
        model = getattr(zoo, name)()
        assert sum(p.numel() for p in model.parameters()) == count, name


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")
def test_bert_base_runs_on_token_ids(probe):
    run = probe({"model": {"name": "bert_base", "inputShape": [16]}, "budgetSeconds": 0.3, "warmupIterations": 1})
    result = run.result
    assert result is not None, run.events
    assert result["check"]["cosine"] == pytest.approx(1.0)
    assert result["check"]["top1Agreement"] is None  # a hidden state, not logits


def test_openvino_int8_probed_again_reads_its_conversion_from_the_walks_cache(probe, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    env = {"GRAVITON_TUNE_CACHE_DIR": str(tmp_path)}
    first = probe(config(backend="openvino", quantization="int8", batchSize=2), env=env)
    assert first.result is not None, (first.events, first.stderr[-2000:])
    # What the next probe will not spend: the export and quantize phases it kept.
    kept = sum(e["seconds"] for e in first.of_type("phase") if e["phase"] in ("export", "quantize") and "seconds" in e)
    assert first.result["cachedSeconds"] == pytest.approx(kept) and kept > 0
    again = probe(config(backend="openvino", quantization="int8", batchSize=2), env=env)
    assert again.result is not None, (again.events, again.stderr[-2000:])
    assert again.result["cachedSeconds"] == 0
    assert any("read from the cache" in e["message"] for e in again.of_type("log"))
    assert "quantize" not in {e["phase"] for e in again.of_type("phase")}
    assert again.result["check"]["cosine"] == pytest.approx(first.result["check"]["cosine"])
    # What ran, from OpenVINO's per-layer profile of a second compile: the convolutions in int8 (on this x86 CPU).
    kernels = first.result["kernels"]
    assert kernels["source"].startswith("OpenVINO's per-layer profile"), kernels
    convolutions = [g for g in kernels["groups"] if g["family"] == "convolution"]
    assert sum(g["count"] for g in convolutions) == 2 and {g["precision"] for g in convolutions} == {"int8"}, kernels
    assert all(g["seconds"] > 0 for g in kernels["groups"])  # timed per layer
    # Without the walk's folder nothing is kept.
    bare = probe(config(backend="openvino", quantization="int8", batchSize=2))
    assert bare.result is not None and bare.result["cachedSeconds"] == 0


def test_onnxruntime_backend_on_a_pytorch_model(probe):
    pytest.importorskip("onnxruntime")
    run = probe(config(backend="onnxruntime", batchSize=2))
    assert run.result is not None, (run.events, run.stderr[-2000:])
    assert run.result["check"]["cosine"] > 0.99
    # What ran, from ONNX Runtime's own profile of a second session: fp32 convolutions on the CPU provider.
    kernels = run.result["kernels"]
    convolutions = [g for g in kernels["groups"] if g["family"] == "convolution"]
    assert sum(g["count"] for g in convolutions) == 2 and {g["precision"] for g in convolutions} == {"fp32"}, kernels
    assert all(g["kernel"].startswith("CPU ") and g["seconds"] > 0 for g in kernels["groups"]), kernels


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_onnx_file_on_onnxruntime_is_checked_against_onnxruntime_fp32(probe, tmp_path):
    pytest.importorskip("onnxruntime")
    import torch

    from graviton_tune_probe import zoo

    path = tmp_path / "toy.onnx"
    try:
        torch.onnx.export(zoo.toy().eval(), (torch.randn(1, 3, 64, 64),), str(path), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    except Exception as err:  # the exporter's own dependencies vary between torch versions
        pytest.skip(f"cannot export ONNX here: {err}")
    run = probe(config(model={"path": str(path)}, backend="onnxruntime", batchSize=3))  # shape read from the file
    assert run.result is not None, (run.events, run.stderr[-2000:])
    assert run.result["check"]["cosine"] == pytest.approx(1.0)


# ------------------------------------------------------------------ statistics


def test_median_interval_uses_order_statistics():
    from graviton_tune_probe import measure

    assert measure._median_rank_bounds(5) is None
    assert measure._median_rank_bounds(6) == (0, 5)
    assert measure._median_rank_bounds(10) == (1, 8)  # x(2), x(9): the textbook 95% interval
    assert measure._median_rank_bounds(20) == (5, 14)  # x(6), x(15)
    interval, real = measure.median_interval([10.0] * 9 + [1000.0])  # one outlier moves nothing
    assert real and interval.median == 10.0 and interval.ci_high == 10.0
    assert measure.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_bf16_fast_math_is_checked_against_a_strict_fp32_reference(probe):
    # DNNL_DEFAULT_FPMATH_MODE changes every oneDNN call of the process, the probe's own
    # "fp32" reference included: the reference must come from a process without it.
    run = probe({"model": {"name": "toy"}, "budgetSeconds": 0.5, "warmupIterations": 1},
                env={"DNNL_DEFAULT_FPMATH_MODE": "BF16"})
    assert run.returncode == 0, run.stderr
    logs = " | ".join(e["message"] for e in run.of_type("log"))
    assert "fp32 reference computed in a separate process without DNNL_DEFAULT_FPMATH_MODE" in logs
    assert run.result["check"]["cosine"] > 0.99


def test_strict_math_needs_no_separate_reference(probe):
    run = probe({"model": {"name": "toy"}, "budgetSeconds": 0.5, "warmupIterations": 1},
                env={"DNNL_DEFAULT_FPMATH_MODE": "STRICT"})
    assert run.returncode == 0, run.stderr
    assert not any("separate process" in e["message"] for e in run.of_type("log"))


def test_a_probe_stopped_with_sigterm_removes_its_temporary_files(tmp_path):
    """graviton-tune stops a probe at its deadline with SIGTERM; its ONNX export folder must not stay in /tmp."""
    pytest.importorskip("onnxruntime")
    probe_json, variables = launched(config(backend="onnxruntime", budgetSeconds=60, check=False))
    command = [sys.executable, "-m", "graviton_tune_probe", "run", "--config", json.dumps(probe_json)]
    env = {**os.environ, "PYTHONPATH": str(PROBES), "TMPDIR": str(tmp_path), **variables}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        for line in child.stdout:
            event = json.loads(line)
            if event["type"] == "phase" and event["phase"] == "measure" and "seconds" not in event:
                break
        made = list(tmp_path.glob("graviton-tune-onnx-*"))
        assert made, "the probe exported to a temporary folder under TMPDIR"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
    assert not any(path.exists() for path in made)
