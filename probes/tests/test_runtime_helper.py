"""The runtime helper users import: optimize() must keep outputs close to eager fp32."""
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


def test_other_backends_are_refused_with_advice():
    with pytest.raises(RuntimeError, match="onnxruntime.*own serving code"):
        rt.optimize(tiny_convnet(), environ={"GT_BACKEND": "onnxruntime"})


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
