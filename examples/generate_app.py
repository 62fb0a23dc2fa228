"""A small generation service loop: a language model served as graviton-tune measured it.

It loads a Hugging Face save_pretrained folder with the class its config.json names
(LlamaForCausalLM, GPT2LMHeadModel, T5ForConditionalGeneration …), applies the measured
choices with graviton_tune_runtime.optimize() (GT_* from graviton-tune.env: weight
quantization, bf16 autocast, threads; launch.sh starts torchrun when several workers won),
and generates for a fixed time: GT_BATCH_SIZE sequences at once, greedy, --new-tokens new
tokens each from seeded prompts of --prompt-len tokens (a real service tokenizes its own
prompts: tokenizer(prompts, return_tensors="pt")). It prints one JSON line: decode tokens/s
over all sequences from the median call (medianDecodeTokensPerSecond, the figure
graviton-tune ranks by), summed over workers, and the median time to the first token.

    graviton-tune --auto --model ./my-llama --app "python examples/generate_app.py --model ./my-llama"
    graviton-tune-out/launch.sh --seconds 20
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a save_pretrained folder (config.json and its weights)")
    parser.add_argument("--prompt-len", type=int, default=128, help="prompt tokens per sequence (default 128)")
    parser.add_argument("--new-tokens", type=int, default=64, help="new tokens per sequence (default 64)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to serve (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up calls (default 2)")
    parser.add_argument("--runtime-dir", default=None,
                        help="directory holding graviton_tune_runtime.py (default: graviton-tune's probes/)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sys.path.insert(0, os.path.join(HERE, "..", "probes"))
    if args.runtime_dir:
        sys.path.insert(0, os.path.abspath(args.runtime_dir))
    # Before torch: under torchrun each worker pins itself to its CPUs as this imports.
    import graviton_tune_runtime as rt  # noqa: E402

    import torch  # noqa: E402

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("gloo")
    torch.manual_seed(0)
    model = rt.load_pretrained(args.model)  # the class config.architectures names, with the folder's weights
    served = rt.optimize(model)
    prompts = rt.prompt_inputs(model, rt.batch_size(), args.prompt_len, seed=0)
    settings = rt.greedy_settings(served, args.new_tokens)
    for _ in range(max(1, args.warmup)):
        served.generate(**prompts, **settings)

    if world > 1:
        dist.barrier()  # every worker serves over the same window
    rates, ttfts = [], []
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds or not rates:
        timed = rt.generate_timed(served.generate, prompts, settings)
        if timed["decode"] > 0:
            rates.append(rt.batch_size() * len(timed["gaps"]) / timed["decode"])
        ttfts.append(timed["ttft"])
    mine = {"rank": int(os.environ.get("RANK", "0")), "cpus": sorted(os.sched_getaffinity(0)),
            "threads": torch.get_num_threads(), "calls": len(ttfts),
            "medianDecodeTokensPerSecond": sorted(rates)[len(rates) // 2] if rates else 0.0,
            "medianTtftMs": 1000.0 * sorted(ttfts)[len(ttfts) // 2]}
    every = [mine]
    if world > 1:
        every = [None] * world
        dist.all_gather_object(every, mine)
        dist.destroy_process_group()
    if mine["rank"] == 0:
        print(json.dumps({"medianDecodeTokensPerSecond": sum(w["medianDecodeTokensPerSecond"] for w in every),
                          "medianTtftMs": max(w["medianTtftMs"] for w in every), "workers": world,
                          "sequences": rt.batch_size() * world, "perWorker": every}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
