"""graviton-tune runtime helper: apply the measured model-level choices in your code.

graviton-tune writes the winning configuration to graviton-tune.env. The process-level
part (LD_PRELOAD, OMP_*, DNNL_*, THP_MEM_ALLOC_ENABLE …) takes effect when the env file
is loaded before Python starts (launch.sh, systemd EnvironmentFile=, docker --env-file).
The model-level part travels as GT_* variables, which this module applies:

    from graviton_tune_runtime import optimize
    model = optimize(model, example_input)
    output = model(batch)

A model with several inputs gets them in the same form: a tuple (positional) or a dict
(keyword arguments), e.g. a Hugging Face model loaded with from_pretrained:

    model = optimize(AutoModelForSequenceClassification.from_pretrained(folder),
                     tokenizer(texts, padding="max_length", max_length=128, return_tensors="pt"))
    logits = model(**tokenizer(batch, padding="max_length", max_length=128, return_tensors="pt")).logits

A language model (a causal LM or a seq2seq LM) is served generating, as graviton-tune
measured it (greedy, a fixed number of new tokens; see greedy_settings):

    model = optimize(AutoModelForCausalLM.from_pretrained(folder))
    tokens = model.generate(**tokenizer(prompts, return_tensors="pt"), **greedy_settings(model, 64))

Under torchrun (GT_WORKERS > 1) each worker pins itself to its own CPUs when this module
is imported; import it before torch so that OpenMP sees the pinned set when it loads.
Feed batches of batch_size() samples (GT_BATCH_SIZE): that is the size that was measured.

Variables (all optional; unset means the plain fp32 eager default):
    GT_BATCH_SIZE          int, the measured batch size (read with batch_size())
    GT_CHANNELS_LAST       0/1, NHWC memory format for the model and 4-D inputs (int8: the
                           inputs only; onnxruntime, openvino: no effect, they pick layouts)
    GT_AUTOCAST            bf16|none, torch.autocast("cpu", bfloat16) around calls
    GT_FP32_PRECISION      bf16|none, oneDNN fp32 matmul/conv computed in bf16
    GT_COMPILE             0/1, torch.compile (inductor) with freezing and weight prepack
    GT_QUANTIZATION        int8|none, int8 (needs example_input): PT2E through torchao on
                           torch, static/dynamic quantization on ONNX Runtime, NNCF on OpenVINO
    GT_WEIGHT_QUANTIZATION int8|int8-dynamic|int4|none, torchao quantize_() on the Linear layers
                           (torch only; the model stays eager, generate() works): int8 or int4
                           weights, or int8 weights with int8 dynamic activations
    GT_BACKEND             torch|onnxruntime|openvino: where the model runs (onnxruntime and
                           openvino export/convert it first, so they need example_input)
    GT_WORKERS             processes under torchrun; with LOCAL_RANK set, each is pinned
    GT_THREADS_PER_WORKER  threads per process (OMP_NUM_THREADS wins when set)
    GT_CPU_LIST            CPUs the workers share, e.g. 0-7 (default: this process's affinity)
    GT_ORT_OPTIONS         onnxruntime only: the ONNX Runtime session as measured, "default" (a
                           plain SessionOptions(), ONNX Runtime's own defaults) or key=value
                           pairs joined by "," on top of those defaults: intra_op_num_threads,
                           inter_op_num_threads ("threads" = GT_THREADS_PER_WORKER),
                           execution_mode (sequential|parallel), graph_optimization_level
                           (disabled|basic|extended|all), any other key with a "." is a session
                           config entry. Unset: the helper's tuned session (see prepare_onnxruntime)
    GT_MODEL               optional: the model file the app serves (an .onnx file for the ONNX
                           walk); read it with model_path()

On onnxruntime and openvino, bf16 (GT_AUTOCAST or GT_FP32_PRECISION) means what it meant
when measured: OpenVINO's INFERENCE_PRECISION_HINT=bf16 (f32 otherwise, set explicitly);
on ONNX Runtime, bf16 GEMM fast math on Arm CPUs with bf16 (always on there) and nothing
on x86. `model` may also be the path of an .onnx file (or an OpenVINO .xml) for them.

Packages: torch always; torchao for int8 on torch; onnxruntime, onnx and onnxscript for
GT_BACKEND=onnxruntime; openvino for GT_BACKEND=openvino, plus nncf for its int8.
A missing one raises BackendError with the pip command in its .hint.

Outputs: on torch, what the model returns (under bf16 autocast in bfloat16: call .float()
if the rest of your code expects float32). On onnxruntime and openvino, the model's first
output as a float32 torch tensor.

int8 calibration: as measured, on example_input plus a few seeded random batches of its
shape (token inputs: random ids up to the example's largest). That is enough to measure
speed, not to keep accuracy: pass real inputs as
optimize(model, example_input, calibration_data=[batch, ...]) before serving int8.

Inputs in channels_last: with GT_CHANNELS_LAST=1 each call converts 4-D float inputs
(images) to channels_last, as measured; an app whose data path can produce them in that
layout once (model.prepare_input(batch), or prepare_input(batch)) skips the conversion.

What was measured is what is served: graviton-tune's probe builds the model with this
optimize(), from the same GT_* variables, and times calls of what it returns, the way
an app calls it. The backends' functions are public too: prepare_int8,
prepare_onnxruntime, prepare_openvino (plus tidy_for_quantization), with a plain
options mapping.
"""

from __future__ import annotations

# isort: skip_file
# The order is the deliverable's order (scripts/bundle-runtime.mjs concatenates the modules
# as listed): the settings and the pinning come before anything that imports torch.
from .base import BackendError, ConfigError
from .settings import CONTRACT, OPTIONS, batch_size, model_path, parse_value, settings
from .pinning import pin_worker, worker_cpus
from .inputs import (
    DEFAULT_TOKEN_RANGE, WEIGHT_FILES, batch_rows, call_model, load_pretrained, load_samples, named_tensors,
    onnx_fixed_batch, onnx_input_specs, onnx_inputs, pretrained_class, rebatch, split_inputs, token_inputs,
)
from .generation import (
    CHECK_TOKENS, can_generate, compare_tokens, generate_timed, greedy_settings, is_encoder_decoder, max_positions,
    generate_checked, prompt_inputs,
)
from .common import CALIBRATION_BATCHES, MIN_TORCH_INT8
from .torch_eager import OptimizedModel
from .weights import WEIGHT_KINDS, int4_group, quantize_weights
from .compile import compile_model
from .pt2e import prepare_int8, quantize_nodes, tidy_for_quantization
from .graphs import _export_onnx as _export_onnx
from .onnxruntime_backend import prepare_onnxruntime
from .openvino_backend import prepare_openvino
from .optimize import optimize, prepare_input

__all__ = [
    "optimize", "batch_size", "settings", "pin_worker", "worker_cpus", "prepare_input", "OptimizedModel",
    "ConfigError", "BackendError", "prepare_int8", "prepare_onnxruntime", "prepare_openvino",
    "tidy_for_quantization", "quantize_nodes", "compile_model", "split_inputs", "call_model", "named_tensors",
    "batch_rows", "rebatch", "load_samples", "token_inputs", "load_pretrained", "onnx_inputs", "onnx_input_specs",
    "onnx_fixed_batch", "model_path", "parse_value", "CONTRACT", "OPTIONS", "CALIBRATION_BATCHES",
    "MIN_TORCH_INT8", "DEFAULT_TOKEN_RANGE", "WEIGHT_FILES", "pretrained_class", "can_generate", "is_encoder_decoder",
    "prompt_inputs", "greedy_settings", "generate_timed", "generate_checked", "compare_tokens", "max_positions",
    "CHECK_TOKENS", "quantize_weights", "int4_group", "WEIGHT_KINDS",
]
