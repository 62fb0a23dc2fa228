"""`python -m graviton_tune_probe inspect --config '<ProbeConfig json>'`: look at the model
once, before any probe runs, so a bad model or bad inputs are reported with the fix
before the walk spends anything.

It loads the model as a probe does, makes its input for two batch sizes (1 and 2:
example_inputs must follow batch_size), runs one fp32 eager forward, reads the real
samples when given, and reports on stdout one line:
  {"type":"model","label":…,"kind":"python"|"huggingface"|…,"inputKind":"image"|"tokens"|"other",
   "inputs":[{"name":…,"shape":[…],"dtype":…}],"evaluate":true|false,"samples":rows|null,
   "fixedBatch":N|null (an .onnx file whose batch axis is fixed),
   "flopsPerSample":F|null (torch's FlopCounterMode, one forward at batch 1; limits.py; null when generating),
   "task":"forward"|"generate", "modelClass":"LlamaForCausalLM"|…|null,
   "generation":{"promptTokens":…,"newTokens":…,"encoderDecoder":…,"modelClass":…}|null}
  A generating model is tried with one short generate() (two new tokens) instead of a forward.
or the probe's usual {"type":"error","code":…,"message":…,"hint":…} (exit code 2).
"""
from __future__ import annotations

from typing import Any, List

import torch

import graviton_tune_runtime as rt

from .config import ProbeConfig
from .models import load_model, onnx_fixed_batch
from .protocol import ProbeError, emit, emit_error, first_line


def input_kind(inputs: Any) -> str:
    """image: some input is a 4-D float tensor; tokens: every input is integer; else other."""
    tensors = [t for _, t in rt.named_tensors(inputs)]
    if any(rt._is_image(t) for t in tensors):
        return "image"
    if tensors and all(not t.is_floating_point() for t in tensors):
        return "tokens"
    return "other"


def describe(inputs: Any) -> List[dict]:
    return [{"name": name, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
            for name, t in rt.named_tensors(inputs)]


def inspect(cfg: ProbeConfig) -> int:
    try:
        backend = "onnxruntime" if (cfg.model.path or "").lower().endswith(".onnx") else "torch"
        loaded = load_model(cfg.model, backend, cfg.seed)
        one = loaded.make_input(1, cfg.seed)
        inputs = loaded.make_input(2, cfg.seed)
        if loaded.samples is not None:
            loaded.sample_batches(1)  # the samples regroup: one form, one shape
        generating = loaded.task == "generate"
        if loaded.module is not None:
            try:
                with torch.inference_mode():
                    if generating:  # two new tokens: the prefill and one decode step work
                        loaded.module.generate(**one, **rt.greedy_settings(loaded.module, 2))
                    else:
                        rt.call_model(loaded.module, one)
            except Exception as err:
                from .run import explain_forward_failure  # the probe's wording for it
                raise explain_forward_failure(loaded, one, err) from None
        from .limits import count_flops  # the model's operations per sample (limits.py)
        flops = count_flops(loaded.module, one, rt.call_model) if loaded.module is not None and not generating else None
        generation = {"promptTokens": int(one["input_ids"].shape[1]), "newTokens": loaded.new_tokens,
                      "encoderDecoder": rt.is_encoder_decoder(loaded.module),
                      "modelClass": type(loaded.module).__name__} if generating else None
        emit("model", label=loaded.label, kind=loaded.kind, inputKind=input_kind(inputs),
             inputs=describe(one), evaluate=loaded.evaluate is not None,
             samples=loaded.sample_rows() if loaded.samples is not None else None,
             fixedBatch=onnx_fixed_batch(loaded.onnx_path) if loaded.onnx_path else None,
             flopsPerSample=flops, task=loaded.task, generation=generation,
             modelClass=type(loaded.module).__name__ if loaded.module is not None else None)
        return 0
    except ProbeError as err:
        emit_error(err)
        return 2
    except Exception as err:  # noqa: BLE001 - the protocol promises an error event
        emit_error(ProbeError("internal", f"inspecting the model failed: {type(err).__name__}: {first_line(err)}",
                              "run the probe by hand to see the full error"))
        return 2
