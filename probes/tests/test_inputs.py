"""Your model as it really is: several inputs (tuple, dict), Hugging Face folders, real
samples, evaluate(). Real PyTorch on tiny models, through the probe's own process
protocol, plus the runtime helper (what users deploy) on each input form."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import graviton_tune_runtime as rt
from conftest import FIXTURES, PROBES

TWO = str(FIXTURES / "two_inputs.py")
HURTS = str(FIXTURES / "int8_hurts.py")


def inspect(model: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "graviton_tune_probe", "inspect", "--config",
                           json.dumps({"model": model})], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(PROBES)})
    events = [json.loads(line) for line in done.stdout.splitlines()]
    last = events[-1]
    assert (done.returncode == 0) == (last["type"] == "model"), done.stderr
    return last


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("bert") / "tiny-bert"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=3, max_position_embeddings=64)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def distil_folder(tmp_path_factory):
    """A DistilBERT folder with only config.json: random weights from the config."""
    from transformers import DistilBertConfig

    folder = tmp_path_factory.mktemp("distil") / "tiny-distil"
    DistilBertConfig(vocab_size=300, dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                     architectures=["DistilBertForSequenceClassification"]).save_pretrained(folder)
    return folder


# ---------------------------------------------------------------- the runtime helper's input forms


def test_split_and_call_on_each_form():
    seen = []

    def model(*args, **kwargs):
        seen.append((len(args), sorted(kwargs)))
        return 0

    x = torch.zeros(2, 3)
    for inputs in (x, (x, x), [x, x], {"a": x, "b": x}):
        rt.call_model(model, inputs)
    assert seen == [(1, []), (2, []), (2, []), (0, ["a", "b"])]
    assert [n for n, _ in rt.named_tensors({"input_ids": x, "mask": x})] == ["input_ids", "mask"]
    assert [n for n, _ in rt.named_tensors((x, x))] == ["input_0", "input_1"]
    with pytest.raises(TypeError):
        rt.split_inputs("text")


def test_rebatch_regroups_rows_and_rejects_mixed_shapes():
    samples = [{"ids": torch.arange(6).reshape(3, 2), "mask": torch.ones(3, 2)},
               {"ids": torch.arange(6, 10).reshape(2, 2), "mask": torch.ones(2, 2)}]
    batches = rt.rebatch(samples, 2)
    assert len(batches) == 2 and all(b["ids"].shape == (2, 2) for b in batches)
    assert batches[1]["ids"][0].tolist() == [4, 5]  # rows continue across samples
    assert rt.rebatch([torch.ones(1, 4)], 3)[0].shape == (3, 4)  # too few rows: repeated to one batch
    with pytest.raises(ValueError, match="different shapes"):
        rt.rebatch([torch.ones(2, 4), torch.ones(2, 5)], 2)


def test_load_samples_from_torch_save_and_npz(tmp_path):
    listed = [(torch.ones(2, 3), torch.zeros(2, 3, dtype=torch.long))]
    torch.save(listed, tmp_path / "s.pt")
    loaded = rt.load_samples(str(tmp_path / "s.pt"))
    assert isinstance(loaded[0], tuple) and loaded[0][1].dtype == torch.long
    np.savez(tmp_path / "s.npz", input_ids=np.zeros((5, 4), dtype=np.int64), attention_mask=np.ones((5, 4), dtype=np.int64))
    loaded = rt.load_samples(str(tmp_path / "s.npz"))
    assert set(loaded[0]) == {"input_ids", "attention_mask"} and loaded[0]["input_ids"].shape == (5, 4)
    torch.save({"not": "tensors"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError):
        rt.load_samples(str(tmp_path / "bad.pt"))


def test_token_inputs_follow_the_model(bert_folder, distil_folder):
    bert = rt.load_pretrained(str(bert_folder))
    inputs = rt.token_inputs(bert, 3, 16)
    assert set(inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    assert inputs["input_ids"].shape == (3, 16) and int(inputs["input_ids"].max()) < 300
    notes = []
    distil = rt.load_pretrained(str(distil_folder), log=lambda m, level="info": notes.append((level, m)))
    assert type(distil).__name__ == "DistilBertForSequenceClassification"
    assert set(rt.token_inputs(distil, 2, 8)) == {"input_ids", "attention_mask"}  # DistilBERT takes no token types
    assert notes and notes[0][0] == "warning" and "random initialisation" in notes[0][1]
    with pytest.raises(ValueError, match="max_position_embeddings"):
        rt.token_inputs(bert, 1, 65)


# ---------------------------------------------------------------- probes on each form


def _result(run):
    assert run.returncode == 0, (run.error, run.stderr[-2000:])
    return run.result


@pytest.mark.parametrize("extra", [{}, {"compile": True}, {"quantization": "int8"},
                                   {"backend": "onnxruntime"}, {"backend": "openvino"}])
def test_two_input_model_through_example_inputs(probe, extra):
    result = _result(probe({"model": {"path": TWO}, "batchSize": 2, "budgetSeconds": 0.3, **extra}, timeout=400))
    assert result["check"]["data"] == "random" and result["check"]["rows"] == 2
    assert result["check"]["cosine"] > 0.99


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_two_input_model_under_two_workers(probe):
    run = probe({"model": {"path": TWO, "factory": "build_keyword"}, "batchSize": 2, "budgetSeconds": 0.5,
                 "workers": 2, "threadsPerWorker": 1}, workers=2)
    result = _result(run)
    assert [w["rank"] for w in result["workers"]] == [0, 1]
    assert result["check"]["data"] == "random" and result["check"]["cosine"] > 0.99


def test_factory_in_the_model_path_and_keyword_inputs(probe):
    # The TypeScript side turns file.py:factory into model.factory; the keyword form here.
    result = _result(probe({"model": {"path": TWO, "factory": "build_keyword"}, "batchSize": 2, "budgetSeconds": 0.3,
                            "backend": "openvino"}, timeout=300))
    assert result["check"]["cosine"] > 0.99


def test_channels_last_only_touches_image_inputs(probe):
    run = probe({"model": {"path": TWO}, "batchSize": 2, "budgetSeconds": 0.3, "channelsLast": True})
    _result(run)
    assert any("channelsLast ignored" in e["message"] for e in run.of_type("log"))


@pytest.mark.parametrize("extra", [{}, {"quantization": "int8"}, {"backend": "onnxruntime"}])
def test_hugging_face_folder(probe, bert_folder, extra):
    run = probe({"model": {"path": str(bert_folder), "seqLen": 16}, "batchSize": 2, "budgetSeconds": 0.3, **extra},
                timeout=400)
    result = _result(run)
    assert result["check"]["top1Agreement"] is not None  # logits [batch, labels] picked from the ModelOutput
    assert any("with the folder's weights" in e["message"] for e in run.of_type("log"))


def test_samples_drive_the_check_and_int8_calibration(probe, distil_folder, tmp_path):
    gen = torch.Generator().manual_seed(3)
    samples = [{"input_ids": torch.randint(0, 300, (3, 12), generator=gen),
                "attention_mask": torch.ones(3, 12, dtype=torch.long)} for _ in range(4)]
    torch.save(samples, tmp_path / "samples.pt")
    run = probe({"model": {"path": str(distil_folder), "samples": str(tmp_path / "samples.pt")}, "batchSize": 4,
                 "budgetSeconds": 0.3, "quantization": "int8"}, timeout=400)
    result = _result(run)
    assert result["check"]["data"] == "samples" and result["check"]["rows"] == 12  # 12 rows = 3 batches of 4
    assert result["calibration"] == {"data": "samples", "batches": 3, "rows": 12}
    assert any("given calibration batches" in e["message"] for e in run.of_type("log"))


def test_evaluate_scores_every_probe_and_int8_hurts(probe):
    eager = _result(probe({"model": {"path": HURTS}, "batchSize": 4, "budgetSeconds": 0.3}))
    int8 = _result(probe({"model": {"path": HURTS}, "batchSize": 4, "budgetSeconds": 0.3, "quantization": "int8"},
                         timeout=400))
    assert eager["score"] == 1.0
    assert int8["score"] < 0.9  # the user's metric sees it ...
    assert int8["check"]["cosine"] > 0.99  # ... the output check on random inputs does not


# ---------------------------------------------------------------- bad input, before any probe


def test_inspect_describes_the_inputs(bert_folder):
    two = inspect({"path": TWO})
    assert two["inputKind"] == "tokens" and [i["name"] for i in two["inputs"]] == ["input_0", "input_1"]
    assert two["inputs"][0]["shape"] == [1, 16] and two["evaluate"] is False
    assert inspect({"path": HURTS})["evaluate"] is True
    hf = inspect({"path": str(bert_folder), "seqLen": 8})
    assert hf["kind"] == "huggingface" and hf["inputs"][0] == {"name": "input_ids", "shape": [1, 8], "dtype": "int64"}


def test_inspect_reads_npz_samples_keyed_by_input_name(distil_folder, tmp_path):
    np.savez(tmp_path / "s.npz", input_ids=np.random.default_rng(0).integers(0, 300, (5, 10)),
             attention_mask=np.ones((5, 10), dtype=np.int64))
    seen = inspect({"path": str(distil_folder), "samples": str(tmp_path / "s.npz")})
    assert seen["samples"] == 5
    assert [(i["name"], i["shape"]) for i in seen["inputs"]] == [("input_ids", [1, 10]), ("attention_mask", [1, 10])]


def test_bad_inputs_are_reported_with_the_fix(tmp_path):
    missing = inspect({"path": str(tmp_path / "nope.py")})
    assert missing["code"] == "model-not-found" and "--model" in missing["hint"]
    no_factory = inspect({"path": TWO, "factory": "make"})
    assert no_factory["code"] == "factory-failed" and "two_inputs.py:NAME" in no_factory["hint"]
    assert "build_model" in no_factory["message"]
    wrong = tmp_path / "wrong_batch.py"
    wrong.write_text("import torch\ndef build_model():\n    return torch.nn.Linear(4, 2)\n"
                     "def example_inputs(batch_size):\n    return torch.randn(3, 4)\n")
    bad = inspect({"path": str(wrong)})
    assert bad["code"] == "bad-example-inputs" and "wrong batch size" in bad["message"] and "batch_size rows" in bad["hint"]
    wrong_form = tmp_path / "wrong_form.py"
    wrong_form.write_text("import torch\ndef build_model():\n    return torch.nn.Linear(4, 2)\n"
                          "def example_inputs(batch_size):\n    return torch.randn(batch_size, 5)\n")
    bad = inspect({"path": str(wrong_form)})
    assert bad["code"] == "bad-input-shape" and "example_inputs" in bad["hint"]
    folder = tmp_path / "empty"
    folder.mkdir()
    assert inspect({"path": str(folder)})["code"] == "model-not-found"
    assert inspect({"path": TWO, "samples": str(tmp_path / "none.pt")})["code"] == "samples-not-found"
    torch.save([torch.ones(2, 4), torch.ones(2, 5)], tmp_path / "mixed.pt")
    assert inspect({"path": TWO, "samples": str(tmp_path / "mixed.pt")})["code"] == "bad-samples"


# ---------------------------------------------------------------- the deployed helper on each form


def _optimize(model, example, **env):
    return rt.optimize(model, example, environ={"GT_BATCH_SIZE": "2", **{k: str(v) for k, v in env.items()}})


@pytest.mark.parametrize("env", [{}, {"GT_COMPILE": "1"}, {"GT_QUANTIZATION": "int8"},
                                 {"GT_BACKEND": "onnxruntime"}, {"GT_BACKEND": "openvino"}])
def test_runtime_helper_on_a_tuple_model(env):
    sys.path.insert(0, str(FIXTURES))
    import two_inputs

    torch.manual_seed(0)
    model = two_inputs.build_model().eval()
    example = two_inputs.example_inputs(2)
    with torch.no_grad():
        expected = model(*example)
    optimized = _optimize(model, example, **env)
    out = optimized(*example)
    assert torch.nn.functional.cosine_similarity(out.float().flatten(), expected.flatten(), dim=0) > 0.99


@pytest.mark.parametrize("env", [{}, {"GT_QUANTIZATION": "int8"}, {"GT_BACKEND": "onnxruntime"},
                                 {"GT_BACKEND": "openvino"}])
def test_runtime_helper_on_a_from_pretrained_model(bert_folder, env):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(bert_folder).eval()
    batch = rt.token_inputs(model, 2, 16, seed=1)
    with torch.no_grad():
        expected = model(**batch).logits
    optimized = _optimize(model, batch, **env)
    out = rt._first_tensor(optimized(**batch))
    assert out.shape == expected.shape
    assert torch.nn.functional.cosine_similarity(out.float().flatten(), expected.flatten(), dim=0) > 0.99


def test_lossy_math_reference_covers_the_samples_too(probe, distil_folder, tmp_path):
    # With DNNL_DEFAULT_FPMATH_MODE set, the fp32 references come from one clean child
    # process, for the seeded input and every --samples batch alike.
    gen = torch.Generator().manual_seed(5)
    samples = [{"input_ids": torch.randint(0, 300, (2, 12), generator=gen),
                "attention_mask": torch.ones(2, 12, dtype=torch.long)} for _ in range(3)]
    torch.save(samples, tmp_path / "samples.pt")
    run = probe({"model": {"path": str(distil_folder), "samples": str(tmp_path / "samples.pt")}, "batchSize": 2,
                 "budgetSeconds": 0.3}, env={"DNNL_DEFAULT_FPMATH_MODE": "BF16"}, timeout=400)
    result = _result(run)
    assert result["check"]["data"] == "samples" and result["check"]["rows"] == 6
    separate = [e for e in run.of_type("log") if "separate process" in e["message"]]
    assert len(separate) == 1, separate
    assert result["check"]["cosine"] > 0.99
