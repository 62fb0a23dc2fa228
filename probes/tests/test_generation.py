"""Generative and encoder-decoder models: folders load as the class they were saved from,
encoder-decoders get decoder inputs, language models are measured generating (tokens/s,
time to first token, the greedy-token check), and the runtime helper's generate() runs
as measured. Real PyTorch and transformers on tiny models built from configs."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import graviton_tune_runtime as rt
from conftest import PROBES

VOCAB = 300


def inspect(model: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "graviton_tune_probe", "inspect", "--config",
                           json.dumps({"model": model})], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(PROBES)})
    return [json.loads(line) for line in done.stdout.splitlines()][-1]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """save_pretrained folders of five architectures, random weights (nothing is downloaded)."""
    from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, T5Config, T5EncoderModel,
                              T5ForConditionalGeneration)

    root = tmp_path_factory.mktemp("generative")
    torch.manual_seed(0)
    t5 = T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, decoder_start_token_id=0,
                  pad_token_id=0, eos_token_id=1)
    T5ForConditionalGeneration(t5).save_pretrained(root / "t5")
    T5EncoderModel(t5).save_pretrained(root / "t5-encoder")
    LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                 bos_token_id=1, eos_token_id=2)).save_pretrained(root / "llama")
    GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2, n_positions=64, bos_token_id=0,
                               eos_token_id=0)).save_pretrained(root / "gpt2")
    # A folder without weights: config.json only (a random initialisation, said so).
    LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                architectures=["LlamaForCausalLM"]).save_pretrained(root / "llama-config-only")
    return root


@pytest.mark.parametrize("name,cls", [("t5", "T5ForConditionalGeneration"), ("t5-encoder", "T5EncoderModel"),
                                      ("llama", "LlamaForCausalLM"), ("gpt2", "GPT2LMHeadModel")])
def test_folders_load_as_the_class_they_were_saved_from(folders, name, cls):
    said = []
    model = rt.load_pretrained(str(folders / name), log=lambda message, level="info": said.append((level, message)))
    assert type(model).__name__ == cls
    assert said[0] == ("info", f"{cls} (config.architectures) with the folder's weights")
    assert not [m for level, m in said if level == "warning"]  # no weight of the class re-initialised
    # The folder's own weights, not a fresh initialisation: the saved tensors come back.
    from safetensors.torch import load_file

    saved = load_file(str(folders / name / "model.safetensors"))
    key, tensor = next(iter(saved.items()))
    assert torch.equal(model.state_dict()[key], tensor)


def test_a_folder_without_weights_and_missing_weights_are_said(folders, tmp_path):
    said = []
    model = rt.load_pretrained(str(folders / "llama-config-only"), log=lambda m, level="info": said.append((level, m)))
    assert type(model).__name__ == "LlamaForCausalLM"
    assert any(level == "warning" and "the folder has no weights" in m for level, m in said)
    # An encoder's weights loaded into the class with a decoder: the decoder's weights are missing.
    from transformers import T5Config

    config = T5Config.from_pretrained(folders / "t5-encoder")
    config.architectures = ["T5ForConditionalGeneration"]
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    config.save_pretrained(mixed)
    (mixed / "model.safetensors").write_bytes((folders / "t5-encoder" / "model.safetensors").read_bytes())
    said.clear()
    rt.load_pretrained(str(mixed), log=lambda m, level="info": said.append((level, m)))
    warning = [m for level, m in said if level == "warning"]
    assert warning and "initialised at random" in warning[0] and "decoder." in warning[0]


def test_inspect_settles_the_task(folders):
    llama = inspect({"path": str(folders / "llama"), "promptLen": 16, "newTokens": 8})
    assert llama["task"] == "generate" and llama["modelClass"] == "LlamaForCausalLM"
    assert llama["generation"] == {"promptTokens": 16, "newTokens": 8, "encoderDecoder": False,
                                   "modelClass": "LlamaForCausalLM"}
    assert llama["inputs"][0] == {"name": "input_ids", "shape": [1, 16], "dtype": "int64"}
    t5 = inspect({"path": str(folders / "t5"), "promptLen": 16})
    assert t5["task"] == "generate" and t5["generation"]["encoderDecoder"] is True
    encoder = inspect({"path": str(folders / "t5-encoder"), "seqLen": 8})
    assert encoder["type"] == "model" and encoder["task"] == "forward" and encoder["generation"] is None
    forward = inspect({"path": str(folders / "t5"), "task": "forward", "seqLen": 8})
    # The seed's T5 call: input_ids and decoder_input_ids.
    assert forward["task"] == "forward" and "decoder_input_ids" in [i["name"] for i in forward["inputs"]]


def test_generation_probe_reports_tokens(probe, folders):
    run = probe({"model": {"path": str(folders / "llama"), "promptLen": 16, "newTokens": 8}, "batchSize": 2,
                 "budgetSeconds": 1}, timeout=300)
    result = run.result
    assert result is not None, run.error or run.stderr[-2000:]
    g = result["generation"]
    assert g["promptTokens"] == 16 and g["newTokens"] == 8 and g["sequences"] == 2
    assert 0 < g["ttftMs"]["p50"] <= g["ttftMs"]["p99"]
    assert 0 < g["interTokenMs"]["p50"] <= g["interTokenMs"]["p99"]
    assert result["latencyMs"]["p99"] == pytest.approx(g["interTokenMs"]["p99"])  # what --max-latency-ms bounds
    # The ranked figure is decode tokens/s over both sequences: twice the per-sequence rate.
    assert g["decodeTokensPerSecond"]["total"] == result["samplesPerSecond"]["median"]
    assert g["decodeTokensPerSecond"]["total"] == pytest.approx(2 * g["decodeTokensPerSecond"]["perSequence"], rel=0.5)
    # fp32 eager against itself: every greedy token identical, the prefill logits too.
    assert result["check"]["tokens"] == {"compared": 8, "sequences": 2, "identical": 2, "firstDivergence": None}
    assert result["check"]["cosine"] > 0.9999 and result["check"]["top1Agreement"] == 1.0


@pytest.mark.parametrize("model", [{"path": "t5", "promptLen": 12, "newTokens": 6},
                                   {"path": "t5", "task": "forward", "seqLen": 12},
                                   {"path": "t5-encoder", "seqLen": 12},
                                   {"path": "gpt2", "promptLen": 12, "newTokens": 6}])
def test_each_folder_class_is_measured(probe, folders, model):
    spec = {**model, "path": str(folders / model["path"])}
    run = probe({"model": spec, "budgetSeconds": 0.5}, timeout=300)
    assert run.result is not None, run.error or run.stderr[-2000:]
    generating = model.get("task") != "forward" and model["path"] != "t5-encoder"
    assert ("generation" in run.result) == generating
    if generating:
        assert run.result["check"]["tokens"]["identical"] == 1


def test_generate_on_a_model_without_a_head_names_the_fix(probe, folders):
    run = probe({"model": {"path": str(folders / "t5-encoder"), "task": "generate"}, "budgetSeconds": 0.5})
    assert run.returncode == 2 and run.error["code"] == "cannot-generate"
    assert "T5EncoderModel" in run.error["message"] and "--task forward" in run.error["hint"]


def test_prompt_longer_than_the_model_takes(probe, folders):
    run = probe({"model": {"path": str(folders / "gpt2"), "promptLen": 60, "newTokens": 8}, "budgetSeconds": 0.5})
    assert run.error["code"] == "bad-config" and "64 positions" in run.error["message"]


def test_token_check_finds_the_first_difference():
    reference = torch.tensor([[5, 6, 7, 8], [1, 2, 3, 4]])
    same = rt.compare_tokens(reference, reference.clone())
    assert same == {"compared": 4, "sequences": 2, "identical": 2, "firstDivergence": None}
    other = reference.clone()
    other[1, 2] = 9
    assert rt.compare_tokens(reference, other) == {"compared": 4, "sequences": 2, "identical": 1, "firstDivergence": 2}
    assert rt.compare_tokens(reference, other, first=2)["identical"] == 2  # only the first tokens count


def test_runtime_helper_generates_as_measured(folders, monkeypatch):
    """What the app deploys: optimize() and its generate(), greedy, the same tokens as the model's own."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folders / "llama")
    prompts = rt.prompt_inputs(model, 2, 10, seed=3)
    expected = model.generate(**prompts, **rt.greedy_settings(model, 5))
    served = rt.optimize(model, environ={"GT_BATCH_SIZE": "2"})
    tokens = served.generate(**prompts, **rt.greedy_settings(served, 5))
    assert tokens.shape == (2, 15) and torch.equal(tokens, expected)
    timed = rt.generate_timed(served.generate, prompts, rt.greedy_settings(served, 5))
    assert timed["tokens"].shape == (2, 5) and len(timed["gaps"]) == 4 and timed["ttft"] > 0



def test_compiled_generation_keeps_the_tokens(folders):
    """GT_COMPILE=1 on a language model: a static KV cache and the forward compiled for generate()."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folders / "llama")
    prompts = rt.prompt_inputs(model, 2, 10, seed=3)
    expected = model.generate(**prompts, **rt.greedy_settings(model, 5))
    said = []
    compiled = rt.optimize(model, environ={"GT_COMPILE": "1"}, log=lambda m, level="info": said.append(m))
    assert compiled.generation and model.generation_config.cache_implementation == "static"
    assert any("static KV cache" in m for m in said)
    assert torch.equal(compiled.generate(**prompts, **rt.greedy_settings(compiled, 5)), expected)


@pytest.mark.parametrize("kind", ["int8", "int8-dynamic", "int4"])
def test_weight_quantization_keeps_generate(folders, kind):
    """GT_WEIGHT_QUANTIZATION: torchao on the Linear layers; the model stays eager and generates."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folders / "llama")
    prompts = rt.prompt_inputs(model, 2, 10, seed=1)
    said = []
    served = rt.optimize(model, environ={"GT_WEIGHT_QUANTIZATION": kind}, log=lambda m, level="info": said.append(m))
    assert type(model.model.layers[0].mlp.up_proj.weight).__name__ != "Parameter"  # quantized in place
    assert any("Linear layers (torchao quantize_)" in m for m in said)
    if kind == "int4":
        assert rt.int4_group(model) is None or "groups of 32" in said[-1]
    tokens = served.generate(**prompts, **rt.greedy_settings(served, 4))
    assert tokens.shape == (2, 14)


def test_weight_quantization_groups_and_bad_values(folders):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folders / "llama")
    assert rt.int4_group(model) == 32  # hidden 32, intermediate 64: 32 divides both, 64 does not divide 32
    with pytest.raises(rt.ConfigError):
        rt.optimize(model, environ={"GT_WEIGHT_QUANTIZATION": "int3"})


@pytest.mark.skipif(__import__("platform").machine() in ("aarch64", "arm64"), reason="x86: no KleidiAI")
def test_int4_is_weight_only_where_torch_has_no_kleidiai():
    """On Arm builds with KleidiAI, int4 packs for aten._dyn_quant_matmul_4bit (the emulated
    Graviton suite runs that path); on x86 torch has no such kernels: the weight-only path."""
    said = []
    model = torch.nn.Sequential(torch.nn.Linear(64, 64))
    rt.quantize_weights(model, "int4", lambda message, level="info": said.append(message))
    assert not rt.kleidiai_available()
    assert said == ["int4 weights (groups of 64, weight-only): 1 Linear layers (torchao quantize_)"]


def test_kleidiai_layers_get_their_inputs_packed_row_by_row():
    """The KleidiAI matmul reads rows as if contiguous: a strided view (generate()'s last
    position before the LM head) reaches the layer contiguous, the same values."""
    from graviton_tune_runtime import _contiguous_input

    layer = torch.nn.Linear(8, 4)
    seen = []
    layer.register_forward_pre_hook(_contiguous_input)
    layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].is_contiguous()))
    hidden = torch.randn(2, 5, 8)
    last = hidden[:, -1:, :]
    assert not last.is_contiguous()
    assert torch.equal(layer(last), torch.nn.functional.linear(last, layer.weight, layer.bias))
    assert seen == [True]


def test_a_lossy_weight_step_is_checked_in_tokens(probe, folders):
    run = probe({"model": {"path": str(folders / "llama"), "promptLen": 16, "newTokens": 8}, "batchSize": 2,
                 "budgetSeconds": 0.5, "weightQuantization": "int4"}, timeout=300)
    assert run.result is not None, run.error or run.stderr[-2000:]
    tokens = run.result["check"]["tokens"]
    assert tokens["compared"] == 8 and tokens["sequences"] == 2 and 0 <= tokens["identical"] <= 2
    assert run.result["check"]["cosine"] < 1.0  # int4 weights change the logits


def test_evaluate_scores_a_generating_model_through_generate(probe, folders, tmp_path):
    """A folder's graviton_tune_eval.py gets the configured model with its generate(), as served."""
    import shutil

    folder = tmp_path / "llama-eval"
    shutil.copytree(folders / "llama", folder)
    (folder / "graviton_tune_eval.py").write_text(
        "import torch\n"
        "def evaluate(model):\n"
        "    ids = torch.arange(10, 26).reshape(2, 8)\n"
        "    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4,\n"
        "                         min_new_tokens=4, do_sample=False, pad_token_id=0)\n"
        "    return float(out.shape[1])\n")
    run = probe({"model": {"path": str(folder), "promptLen": 8, "newTokens": 4}, "budgetSeconds": 0.3}, timeout=300)
    assert run.result is not None, run.error or run.stderr[-2000:]
    assert run.result["score"] == 12.0  # 8 prompt tokens and 4 new, through the served generate()
