"""An .onnx file as the user's model: inputs from its graph, ONNX Runtime's default
session as the baseline, the walk's session options, int8 through ORT's quantizer, and a
file that does not load. Small models exported in the test with torch.onnx.export."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from conftest import PROBES  # noqa: E402


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(8, 5))

    def forward(self, x):
        return self.body(x)


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(500, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, input_ids, attention_mask):
        h = self.embed(input_ids) * attention_mask.unsqueeze(-1).float()
        return self.head(h.mean(1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    net = Net().eval()
    torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), str(d / "dyn.onnx"), input_names=["image"], dynamo=False,
                      dynamic_axes={"image": {0: "batch"}})
    torch.onnx.export(net, (torch.randn(4, 3, 32, 32),), str(d / "fixed.onnx"), input_names=["image"], dynamo=False)
    torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), str(d / "hw.onnx"), input_names=["image"], dynamo=False,
                      dynamic_axes={"image": {0: "batch", 2: "h", 3: "w"}})
    ids = torch.randint(0, 500, (2, 16))
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", min=2, max=512)
    torch.onnx.export(Tokens().eval(), (ids, torch.ones_like(ids)), str(d / "tokens.onnx"),
                      input_names=["input_ids", "attention_mask"], dynamo=True,
                      dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
    (d / "broken.onnx").write_bytes(b"this is not a protobuf")
    return d


def config(path, **over):
    base = {"model": {"path": str(path)}, "batchSize": 1, "backend": "onnxruntime", "threadsPerWorker": 1,
            "budgetSeconds": 0.5, "warmupIterations": 1, "sessionOptions": {}}
    base.update(over)
    return base


def inspect(path, **model):
    text = json.dumps({"model": {"path": str(path), **model}})
    done = subprocess.run([sys.executable, "-m", "graviton_tune_probe", "inspect", "--config", text],
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(PROBES), "PATH": "/usr/bin:/bin"})
    return [json.loads(line) for line in done.stdout.splitlines()][-1]


def test_dynamic_batch_inputs_come_from_the_graph(files, probe):
    info = inspect(files / "dyn.onnx")
    assert info["type"] == "model" and info["kind"] == "onnx" and info["inputKind"] == "image"
    assert info["inputs"] == [{"name": "image", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert info["fixedBatch"] is None
    run = probe(config(files / "dyn.onnx", batchSize=2))
    assert run.returncode == 0, run.stderr
    assert run.result["batchSize"] == 2 and run.result["check"]["cosine"] > 0.9999
    assert any("default session" in e["message"] for e in run.of_type("log"))


def test_fixed_batch_is_reported_and_measured_at_its_size(files, probe):
    info = inspect(files / "fixed.onnx")
    assert info["fixedBatch"] == 4
    run = probe(config(files / "fixed.onnx", batchSize=4, sessionOptions={"intra_op_num_threads": "threads",
                                                                          "graph_optimization_level": "extended"}))
    assert run.returncode == 0, run.stderr
    assert run.result["batchSize"] == 4
    assert any("intra_op_num_threads=1" in e["message"] and "graph_optimization_level=extended" in e["message"]
               for e in run.of_type("log"))


def test_fixed_batch_at_another_size_names_the_batch(files, probe):
    run = probe(config(files / "fixed.onnx", batchSize=1))
    assert run.error["code"] == "bad-input-shape"
    assert "--batch-size 4" in run.error["hint"]


def test_int8_calibrates_on_real_samples_keyed_by_input_name(files, probe, tmp_path):
    import numpy as np

    samples = tmp_path / "images.npz"
    np.savez(samples, image=np.random.default_rng(0).standard_normal((6, 3, 32, 32)).astype(np.float32))
    run = probe(config(files / "dyn.onnx", batchSize=2, quantization="int8",
                       model={"path": str(files / "dyn.onnx"), "samples": str(samples)}), timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.result["calibration"] == {"data": "samples", "batches": 3, "rows": 6}
    assert run.result["check"]["data"] == "samples"


def test_token_model_with_two_inputs(files, probe):
    info = inspect(files / "tokens.onnx", seqLen=24)
    assert info["inputKind"] == "tokens"
    assert [(i["name"], i["shape"], i["dtype"]) for i in info["inputs"]] == [
        ("input_ids", [1, 24], "int64"), ("attention_mask", [1, 24], "int64")]
    import graviton_tune_runtime as rt

    made = rt.onnx_inputs(str(files / "tokens.onnx"), 3, seq_len=24)
    assert made["input_ids"].max() < 500 and made["input_ids"].max() >= 100  # the embedding's vocabulary, read from the graph
    assert bool((made["attention_mask"] == 1).all())
    run = probe(config(files / "tokens.onnx", batchSize=2, model={"path": str(files / "tokens.onnx"), "seqLen": 24}))
    assert run.returncode == 0, run.stderr
    assert run.result["check"]["cosine"] > 0.9999


def test_symbolic_dimension_needs_input_shape_naming_the_input(files, probe):
    info = inspect(files / "hw.onnx")
    assert info["type"] == "error" and info["code"] == "needs-input-shape"
    assert "'image'" in info["message"] and "--input-shape" in info["hint"]
    ok = inspect(files / "hw.onnx", inputShape=[3, 40, 40])
    assert ok["inputs"][0]["shape"] == [1, 3, 40, 40]


def test_a_file_that_does_not_load(files):
    info = inspect(files / "broken.onnx")
    assert info["type"] == "error" and info["code"] == "model-load-failed"
    assert "broken.onnx is not a readable ONNX model" in info["message"]


def test_int8_static_quantization_of_the_file(files, probe):
    # Measured at probe level: this CPU's ISA may not offer the walk's int8 step.
    run = probe(config(files / "dyn.onnx", batchSize=2, quantization="int8"), timeout=300)
    assert run.returncode == 0, run.stderr
    assert any("static QDQ" in e["message"] for e in run.of_type("log"))
    assert run.result["calibration"]["data"] == "random"
    assert run.result["check"]["cosine"] > 0.9
    # ONNX Runtime's profile names the quantized operators it really ran.
    groups = run.result["kernels"]["groups"]
    assert groups and {g["precision"] for g in groups} == {"int8"}, groups
    assert any(g["kernel"] in ("CPU QLinearConv", "CPU QGemm", "CPU QLinearMatMul", "CPU MatMulInteger") for g in groups), groups


def test_runtime_helper_serves_the_file_with_the_measured_session(files):
    import graviton_tune_runtime as rt

    env = {"GT_BACKEND": "onnxruntime", "GT_BATCH_SIZE": "2", "GT_THREADS_PER_WORKER": "1",
           "GT_ORT_OPTIONS": "intra_op_num_threads=threads,execution_mode=sequential",
           "GT_MODEL": str(files / "dyn.onnx")}
    assert rt.settings(env)["ort_options"] == {"intra_op_num_threads": "threads", "execution_mode": "sequential"}
    assert rt.settings({"GT_ORT_OPTIONS": "default"})["ort_options"] == {}
    with pytest.raises(rt.ConfigError):
        rt.settings({"GT_ORT_OPTIONS": "nonsense"})
    path = rt.model_path(env)
    batch = rt.onnx_inputs(path, rt.batch_size(env))
    served = rt.optimize(path, batch, environ=env)
    out = rt.call_model(served, batch)
    assert tuple(out.shape) == (2, 5)
    assert served.runner.session.get_session_options().intra_op_num_threads == 1
