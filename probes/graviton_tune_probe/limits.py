"""The distance to the limit: what this CPU does for a large matrix multiply, per
precision, and how many operations one sample of the model costs.

`python -m graviton_tune_probe.limits --threads N [--seconds S] [--bandwidth]` prints one line:
  {"type":"matmul","threads":N,"fp32":GFLOP/s,"bf16":GFLOP/s|null,"int8":GOP/s|null,
   "notes":[why a precision was left out, …]}
and with --bandwidth a second: {"type":"bandwidth","threads":N,"gbPerSecond":GB/s,"arrayMiB":…}
(STREAM's triad: what a language model's decode step is bound by; decode_bytes() says
what one step reads, for the generation probe).
Only precisions the CPU runs natively are measured: bf16 needs the CPU's bf16 support
(oneDNN's own check; on x86 AVX-512 BF16 or AMX, on Arm the bf16 flag), int8 runs
torch._int_mm where it works (on CPUs without int8 dot products it is measured anyway,
and says so). Each precision is measured at --size (2048) unless one call of that size
would be slow (an emulated CPU, a slow int8 path): then at the largest power of two from
256 whose call stays short, and a note says so. count_flops() is called by
inspect_model.py: a forward under torch's FlopCounterMode, at batch 1 (a multiply-add
counts 2).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch


def count_flops(module: Any, inputs: Any, call: Callable[[Any, Any], Any]) -> Optional[float]:
    """Floating-point operations of one forward at these inputs (batch 1), or None when the counter fails."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            call(module, inputs)
        total = counter.get_total_flops()
        return float(total) if total > 0 else None
    except Exception:  # noqa: BLE001 - a count is a bonus, never a failure of the check
        return None


def _rate(run: Callable[[], Any], ops: float, seconds: float) -> float:
    """The rate of the fastest call over `seconds` (at least 3 calls): a ceiling, so the
    best call, not the mean; a busy moment on a shared machine slows some calls and
    nothing makes one faster than the CPU can go, so a mean kept once per machine would
    stay low for good (seen: a rate kept from a busy minute that later walks outran)."""
    run()  # warm: packing, thread pool
    n, start, fastest = 0, time.perf_counter(), float("inf")
    while True:
        t0 = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - t0)
        n += 1
        if time.perf_counter() - start >= seconds and n >= 3:
            return ops / fastest / 1e9


def bf16_supported() -> bool:
    """Native bf16 math: on x86 AVX-512 BF16 or AMX (oneDNN's own check also says yes on plain
    AVX-512, where it emulates bf16: seen on an Intel Xeon with avx512_vnni and no avx512_bf16),
    elsewhere oneDNN's check (on Arm the bf16 flag)."""
    try:
        if platform.machine() in ("x86_64", "AMD64"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001
        return False


def _quick_size(make: Callable[[int], Callable[[], Any]], seconds: float, n: int, start: int = 256) -> Tuple[int, Callable[[], Any]]:
    """The largest size from `start`, doubling up to n, whose single call stays short (a
    32nd of the measuring time), and the call at that size. A fast CPU reaches n at once;
    a slow path (int8 without fast kernels, an emulated CPU) measures a smaller matrix in
    seconds rather than spend minutes at n."""
    m = min(start, n)
    while True:
        run = make(m)
        t0 = time.perf_counter()
        run()
        took = time.perf_counter() - t0
        if m >= n or took * 32 > seconds:
            return m, run
        m *= 2


def matmul_rates(threads: int, seconds: float = 2.0, n: int = 2048) -> Dict[str, Any]:
    torch.set_num_threads(threads)
    notes: List[str] = []
    out: Dict[str, Any] = {"type": "matmul", "threads": torch.get_num_threads()}
    g = torch.Generator().manual_seed(0)

    def floats(dtype: torch.dtype) -> Callable[[int], Callable[[], Any]]:
        def make(m: int) -> Callable[[], Any]:
            a = torch.randn(m, m, generator=g).to(dtype)
            b = torch.randn(m, m, generator=g).to(dtype)
            return lambda: torch.mm(a, b)
        return make

    def ints(m: int) -> Callable[[], Any]:
        a = torch.randint(-128, 127, (m, m), dtype=torch.int8, generator=g)
        b = torch.randint(-128, 127, (m, m), dtype=torch.int8, generator=g)
        return lambda: torch._int_mm(a, b)

    def rate(make: Callable[[int], Callable[[], Any]]) -> Tuple[float, int]:
        m, run = _quick_size(make, seconds, n)
        return _rate(run, 2.0 * m ** 3, seconds), m

    with torch.inference_mode():
        out["fp32"], out["size"] = rate(floats(torch.float32))
        if bf16_supported():
            out["bf16"], out["bf16Size"] = rate(floats(torch.bfloat16))
        else:
            out["bf16"] = None
            notes.append("bf16: no native bf16 matrix support on this CPU (oneDNN's check)")
        try:
            out["int8"], out["int8Size"] = rate(ints)
            if out["int8"] < out["fp32"]:
                notes.append("int8: torch._int_mm runs slower than fp32 here (no fast int8 kernel for it on this CPU)")
        except Exception as err:  # noqa: BLE001
            out["int8"] = None
            notes.append(f"int8: torch._int_mm does not run here ({type(err).__name__})")
    for key, label in (("size", "fp32"), ("bf16Size", "bf16"), ("int8Size", "int8")):
        if out.get(key) is not None and out[key] < n:
            notes.append(f"{label}: measured at {out[key]}x{out[key]} (a {n}x{n} call would take too long here)")
    out["notes"] = notes
    return out


def memory_bandwidth(threads: int, seconds: float = 1.0, mib: int = 128) -> Dict[str, Any]:
    """STREAM's triad (a = b + 2c) over float32 arrays of `mib` MiB each, far larger than the
    caches: bytes moved per call = 3 arrays (two read, one written), the fastest call's rate
    in GB/s (10^9 bytes). What a decode step is bound by: it reads every weight once."""
    torch.set_num_threads(threads)
    n = mib * 2 ** 20 // 4
    b = torch.rand(n)
    c = torch.rand(n)
    a = torch.empty(n)
    with torch.inference_mode():
        rate = _rate(lambda: torch.add(b, c, alpha=2.0, out=a), 3.0 * n * 4, seconds)
    return {"type": "bandwidth", "threads": torch.get_num_threads(), "gbPerSecond": rate, "arrayMiB": mib}


def decode_bytes(model: Any, prompt_len: int, new_tokens: int) -> Dict[str, Any]:
    """What one decode step reads: every Linear layer's (and GPT-2's Conv1D's) weights at their stored precision
    (quantized weights by their packed tensors; the embedding table is read a row per token,
    so it counts only where an output head shares it), and per sequence the KV cache at its
    mean length over the decode (prompt + half the new tokens), where the config says its shape;
    and the Linear layers' operations per token (2 per weight), what the prefill's matmuls do
    for every prompt token (attention left out)."""
    seen, weights, flops = set(), 0, 0
    for module in model.modules():
        # nn.Linear, and transformers' Conv1D (GPT-2's linear layers, the weight transposed).
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            flops += 2 * module.weight.numel()  # one token through it: a multiply-add per weight
            for tensor in (module.weight, getattr(module, "bias", None)):
                if tensor is not None and id(tensor) not in seen:
                    seen.add(id(tensor))
                    weights += _stored_bytes(tensor)
    config = getattr(model, "config", None)
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layers = _first(text, "num_decoder_layers", "num_hidden_layers", "n_layer", "num_layers")
    heads = _first(text, "num_key_value_heads", "num_attention_heads", "n_head", "num_heads")
    width = _first(text, "hidden_size", "n_embd", "d_model")
    head_dim = _first(text, "head_dim", "d_kv") or (width // _first(text, "num_attention_heads", "n_head", "num_heads")
                                                     if width and _first(text, "num_attention_heads", "n_head", "num_heads") else None)
    element = next((p.element_size() for p in model.parameters() if p.is_floating_point()), 4)
    kv = None
    if layers and heads and head_dim:
        kv = int(layers * 2 * heads * head_dim * (prompt_len + new_tokens / 2) * element)
    return {"weights": int(weights), "kvPerSequence": kv, "flopsPerToken": int(flops)}


def _first(config: Any, *names: str) -> Optional[int]:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _stored_bytes(tensor: Any) -> int:
    """A tensor's bytes as stored: a tensor subclass (torchao's quantized weights) by its inner tensors."""
    flatten = getattr(tensor, "__tensor_flatten__", None)
    if flatten is not None and type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        names, _ = flatten()
        return sum(_stored_bytes(getattr(tensor, name)) for name in names if isinstance(getattr(tensor, name), torch.Tensor))
    return int(tensor.numel() * tensor.element_size())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graviton_tune_probe.limits")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--bandwidth", action="store_true", help="measure the memory bandwidth (triad) as well")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(matmul_rates(args.threads, args.seconds, args.size)), flush=True)
        if args.bandwidth:
            print(json.dumps(memory_bandwidth(args.threads, args.seconds)), flush=True)
        return 0
    except Exception as err:  # noqa: BLE001
        print(json.dumps({"type": "error", "code": "matmul-failed", "message": f"{type(err).__name__}: {err}"}), flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
