"""The runtime helper users import: optimize() must keep outputs close to eager fp32."""
import importlib.util
import logging
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import graviton_tune_runtime as rt  # noqa: E402


def tiny_convnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    ).eval()


def image_batch(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0).item()


@pytest.fixture(autouse=True)
def restore_torch_state():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.backends.mkldnn.matmul.fp32_precision = "none"
    torch.backends.mkldnn.conv.fp32_precision = "none"


def eager(model, x):
    with torch.no_grad():
        return model(x)


def test_defaults_give_the_same_model(monkeypatch):
    for key in list(os.environ):
        if key.startswith("GT_"):
            monkeypatch.delenv(key)
    model = tiny_convnet()
    x = image_batch()
    reference = eager(model, x)
    optimized = rt.optimize(model)
    assert not optimized.compiled
    out = optimized(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out, reference)
    assert rt.batch_size() == 1


def test_channels_last_and_bf16_autocast_stay_close(monkeypatch):
    monkeypatch.setenv("GT_CHANNELS_LAST", "1")
    monkeypatch.setenv("GT_AUTOCAST", "bf16")
    monkeypatch.setenv("GT_BATCH_SIZE", "8")
    model = tiny_convnet()
    x = image_batch(8)
    reference = eager(tiny_convnet(), x)
    optimized = rt.optimize(model, x)
    assert optimized.settings["channels_last"] and optimized.settings["autocast"] == "bf16"
    out = optimized(x)
    assert out.dtype == torch.bfloat16
    assert cosine(out, reference) > 0.99
    assert rt.batch_size() == 8


def test_compile_works_on_a_tiny_model():
    env = {"GT_COMPILE": "1", "OMP_NUM_THREADS": "1"}
    model = tiny_convnet()
    x = image_batch()
    reference = eager(tiny_convnet(), x)
    optimized = rt.optimize(model, x, environ=env)
    assert optimized.compiled
    assert torch.get_num_threads() == 1
    assert cosine(optimized(x), reference) > 0.999


def test_fp32_precision_bf16_sets_onednn_and_stays_close():
    model = tiny_convnet()
    x = image_batch()
    reference = eager(tiny_convnet(), x)
    optimized = rt.optimize(model, environ={"GT_FP32_PRECISION": "bf16"})
    assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
    assert cosine(optimized(x), reference) > 0.99


def test_int8_needs_an_example_input():
    with pytest.raises(ValueError, match="example_input"):
        rt.optimize(tiny_convnet(), environ={"GT_QUANTIZATION": "int8"})


def test_int8_through_pt2e_stays_close():
    pytest.importorskip("torchao")
    model = tiny_convnet()
    x = image_batch(4)
    reference = eager(tiny_convnet(), x)
    optimized = rt.optimize(model, x, environ={"GT_QUANTIZATION": "int8", "GT_CHANNELS_LAST": "1"})
    assert optimized.compiled  # PT2E int8 is only fast once inductor lowers it
    assert cosine(optimized(x), reference) > 0.99


def _has(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


needs_ort = pytest.mark.skipif(not (_has("onnxruntime") and _has("onnx")), reason="onnxruntime not installed")
needs_ov = pytest.mark.skipif(not _has("openvino"), reason="openvino not installed")


@needs_ort
def test_onnxruntime_backend_stays_close(caplog):
    model = tiny_convnet()
    x = image_batch(4)
    reference = eager(tiny_convnet(), x)
    env = {"GT_BACKEND": "onnxruntime", "OMP_NUM_THREADS": "1", "GT_BATCH_SIZE": "4"}
    with caplog.at_level(logging.INFO, logger="graviton_tune_runtime"):
        optimized = rt.optimize(model, x, environ=env)
    assert optimized.runner.session.get_session_options().intra_op_num_threads == 1
    assert "ONNX export: torch.export-based exporter" in caplog.text
    out = optimized(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == reference.shape
    assert cosine(out, reference) > 0.99
    assert cosine(optimized(x[:1]), reference[:1]) > 0.99  # the exported batch axis is dynamic


@needs_ort
def test_onnxruntime_int8_stays_close(caplog):
    model = tiny_convnet()
    x = image_batch(4)
    reference = eager(tiny_convnet(), x)
    with caplog.at_level(logging.INFO, logger="graviton_tune_runtime"):
        optimized = rt.optimize(model, x, environ={"GT_BACKEND": "onnxruntime", "GT_QUANTIZATION": "int8"})
    # The same calibration as the probe: the example plus the seeded batches.
    assert f"on {rt.CALIBRATION_BATCHES + 1} seeded batches" in caplog.text
    assert cosine(optimized(x), reference) > 0.99


@needs_ort
def test_onnxruntime_serves_an_onnx_file(tmp_path):
    model = tiny_convnet()
    x = image_batch(2)
    path = tmp_path / "tiny_runtime.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"])
    optimized = rt.optimize(str(path), x, environ={"GT_BACKEND": "onnxruntime"})
    assert cosine(optimized(x), eager(tiny_convnet(), x)) > 0.99


@needs_ov
def test_openvino_backend_stays_close(caplog):
    model = tiny_convnet()
    x = image_batch(4)
    reference = eager(tiny_convnet(), x)
    with caplog.at_level(logging.INFO, logger="graviton_tune_runtime"):
        optimized = rt.optimize(model, x, environ={"GT_BACKEND": "openvino", "OMP_NUM_THREADS": "1"})
    assert "INFERENCE_PRECISION_HINT=f32" in caplog.text  # fp32 really is fp32, as measured
    compiled = optimized.runner.compiled_model
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    out = optimized(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == reference.shape
    assert cosine(out, reference) > 0.99


@needs_ov
def test_openvino_bf16_means_the_precision_hint():
    if not rt._cpu_has_bf16():
        with pytest.raises(rt.BackendError) as info:
            rt.optimize(tiny_convnet(), image_batch(), environ={"GT_BACKEND": "openvino", "GT_AUTOCAST": "bf16"})
        assert info.value.code == "bf16-unsupported"
        return
    x = image_batch(4)
    for key in ("GT_AUTOCAST", "GT_FP32_PRECISION"):
        optimized = rt.optimize(tiny_convnet(), x, environ={"GT_BACKEND": "openvino", key: "bf16"})
        assert "bfloat16" in str(optimized.runner.compiled_model.get_property("INFERENCE_PRECISION_HINT"))
        out = optimized(x)
        assert out.dtype == torch.float32
        assert cosine(out, eager(tiny_convnet(), x)) > 0.99
    # The torch-only knob is left alone for OpenVINO, as in the probe.
    assert torch.backends.mkldnn.matmul.fp32_precision != "bf16"


@needs_ov
def test_openvino_int8_through_nncf_stays_close(caplog):
    pytest.importorskip("nncf")
    model = tiny_convnet()
    x = image_batch(4)
    reference = eager(tiny_convnet(), x)
    with caplog.at_level(logging.INFO, logger="graviton_tune_runtime"):
        optimized = rt.optimize(model, x, environ={"GT_BACKEND": "openvino", "GT_QUANTIZATION": "int8"})
    assert f"NNCF post-training quantization, {rt.CALIBRATION_BATCHES + 1} seeded calibration batches" in caplog.text
    assert cosine(optimized(x), reference) > 0.99


@needs_ov
def test_openvino_int8_calibrates_on_given_data(caplog):
    pytest.importorskip("nncf")
    x = image_batch(4)
    real = [torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    with caplog.at_level(logging.INFO, logger="graviton_tune_runtime"):
        optimized = rt.optimize(tiny_convnet(), x, environ={"GT_BACKEND": "openvino", "GT_QUANTIZATION": "int8"},
                                calibration_data=real)
    assert "3 given calibration batches" in caplog.text
    assert cosine(optimized(x), eager(tiny_convnet(), x)) > 0.99


@needs_ov
def test_openvino_cache_reads_back_the_same_quantized_model(tmp_path):
    pytest.importorskip("nncf")
    x = image_batch(4)
    env = {"GT_BACKEND": "openvino", "GT_QUANTIZATION": "int8"}
    first = rt.optimize(tiny_convnet(), x, environ=env, cache_dir=str(tmp_path))
    assert first.runner.cache["hit"] is False
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == 2 and kept[0].endswith(".bin") and kept[1].endswith(".xml")  # no scratch folder left
    phases = []
    again = rt.optimize(tiny_convnet(), x, environ=env, cache_dir=str(tmp_path), phase=phases.append)
    assert again.runner.cache == {"path": first.runner.cache["path"], "hit": True}
    assert "quantize" not in phases  # read back, not quantized again
    assert torch.equal(again(x), first(x))  # the same model, weights kept as they were (no fp16 compression)
    # Other weights, another input shape, or fp32 instead of int8: another entry, never the cached one.
    other = tiny_convnet()
    with torch.no_grad():
        other[0].weight.add_(0.01)
    assert rt.optimize(other, x, environ=env, cache_dir=str(tmp_path)).runner.cache["hit"] is False
    assert rt.optimize(tiny_convnet(), image_batch(2), environ=env, cache_dir=str(tmp_path)).runner.cache["hit"] is False
    assert rt.optimize(tiny_convnet(), x, environ={"GT_BACKEND": "openvino"}, cache_dir=str(tmp_path)).runner.cache["hit"] is False
    assert len(list(tmp_path.glob("*.xml"))) == 4
    # Without a cache folder nothing is kept, as an app that does not ask gets it.
    assert rt.optimize(tiny_convnet(), x, environ=env).runner.cache is None


def test_int8_calibration_is_the_probes():
    # Both paths calibrate on the same batches: the example plus seeded ones of its shape.
    x = image_batch(4)
    first = rt._calibration_samples(x, {"seed": 0})
    again = rt._calibration_samples(x, {"seed": 0})
    assert len(first) == rt.CALIBRATION_BATCHES + 1 and first[0] is x
    assert all(s.shape == x.shape and torch.equal(s, t) for s, t in zip(first, again))
    ids = torch.randint(0, 100, (2, 8), generator=torch.Generator().manual_seed(0))
    tokens = rt._calibration_samples(ids, None)
    assert all(t.dtype == torch.int64 and int(t.max()) <= int(ids.max()) for t in tokens)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_other_backends_need_an_example_input(backend):
    with pytest.raises(ValueError, match="example_input"):
        rt.optimize(tiny_convnet(), environ={"GT_BACKEND": backend})


@pytest.mark.parametrize(
    "backend, quantization, missing, hint",
    [
        ("onnxruntime", "none", "onnxruntime", "pip install onnxruntime onnx onnxscript"),
        ("openvino", "none", "openvino", "pip install openvino"),
        ("openvino", "int8", "nncf", "pip install nncf"),
    ],
)
def test_missing_package_is_a_backend_error_with_the_pip_hint(monkeypatch, backend, quantization, missing, hint):
    if missing == "nncf" and not _has("openvino"):
        pytest.skip("openvino not installed")
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(rt.BackendError) as info:
        rt.optimize(tiny_convnet(), image_batch(),
                    environ={"GT_BACKEND": backend, "GT_QUANTIZATION": quantization})
    assert info.value.code == "missing-package"
    assert info.value.hint == hint
    assert hint in str(info.value)


def test_missing_torchao_is_a_backend_error_with_the_pip_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)
    monkeypatch.setitem(sys.modules, "torch.ao.quantization.quantize_pt2e", None)
    with pytest.raises(rt.BackendError) as info:
        rt.optimize(tiny_convnet(), image_batch(), environ={"GT_QUANTIZATION": "int8"})
    assert info.value.code == "missing-package" and info.value.hint == "pip install torchao"


def test_nonsense_values_are_refused():
    with pytest.raises(rt.ConfigError, match="GT_COMPILE"):
        rt.settings({"GT_COMPILE": "maybe"})
    with pytest.raises(rt.ConfigError, match="GT_BATCH_SIZE"):
        rt.settings({"GT_BATCH_SIZE": "0"})


def test_settings_parse_the_env_file_spelling():
    cfg = rt.settings(
        {
            "GT_BATCH_SIZE": "8",
            "GT_CHANNELS_LAST": "1",
            "GT_AUTOCAST": "none",
            "GT_WORKERS": "2",
            "GT_THREADS_PER_WORKER": "2",
            "OMP_NUM_THREADS": "3",
            "GT_CPU_LIST": "0-2,5",
        }
    )
    assert cfg["batch_size"] == 8 and cfg["channels_last"] and cfg["autocast"] == "none"
    assert cfg["threads"] == 3  # OMP_NUM_THREADS wins
    assert cfg["cpu_list"] == [0, 1, 2, 5]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no sched_setaffinity")
def test_pin_worker_takes_its_slice():
    before = os.sched_getaffinity(0)
    cpus = sorted(before)
    if len(cpus) < 2:
        pytest.skip("needs 2 CPUs")
    try:
        env = {"GT_WORKERS": "2", "OMP_NUM_THREADS": "1", "LOCAL_RANK": "1", "GT_CPU_LIST": f"{cpus[0]},{cpus[1]}"}
        assert rt.pin_worker(env) == [cpus[1]]
        assert os.sched_getaffinity(0) == {cpus[1]}
        assert rt.pin_worker({"GT_WORKERS": "1", "LOCAL_RANK": "0"}) is None
    finally:
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), before)
            except OSError:
                pass
