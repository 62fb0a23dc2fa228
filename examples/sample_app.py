"""A small inference service loop, to check that graviton-tune's files reproduce its figure.

It builds a built-in model the way the probe does (same definitions, random weights),
applies the measured choices with graviton_tune_runtime.optimize(), serves batches of
GT_BATCH_SIZE for a fixed time and prints one JSON line: samples/s over the window
(samplesPerSecond) and from the median batch time (medianSamplesPerSecond, the statistic
graviton-tune reports), each summed over all torchrun workers when launch.sh started several,
and each worker's own figures with the CPUs it ran on (perWorker).

    graviton-tune --auto --app "python examples/sample_app.py --runtime-dir graviton-tune-out"
    graviton-tune-out/launch.sh --model resnet50 --seconds 20
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
    parser.add_argument("--model", default=None,
                        help="built-in model name (default resnet50), or an .onnx file (default: GT_MODEL when set)")
    parser.add_argument("--input-shape", default="3,224,224",
                        help="one sample's shape for a built-in model, without the batch (default 3,224,224)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to serve (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up batches (default 3)")
    parser.add_argument("--runtime-dir", default=None,
                        help="directory holding graviton_tune_runtime.py (default: graviton-tune's probes/)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    probes = os.path.join(HERE, "..", "probes")
    sys.path.insert(0, probes)
    if args.runtime_dir:
        sys.path.insert(0, os.path.abspath(args.runtime_dir))
    # Before torch: under torchrun each worker pins itself to its CPUs as this imports.
    from graviton_tune_runtime import batch_size, call_model, model_path, onnx_inputs, optimize  # noqa: E402, I001

    import torch  # noqa: E402
    from graviton_tune_probe import zoo  # noqa: E402

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("gloo")
    torch.manual_seed(0)
    name = args.model or model_path() or "resnet50"
    if name.lower().endswith(".onnx"):
        # The file itself, fed as measured: inputs from its graph (names, shapes, types).
        model, batch = name, onnx_inputs(name, batch_size())
    else:
        model = getattr(zoo, name)().eval()
        shape = [int(d) for d in args.input_shape.split(",")]
        batch = torch.randn(batch_size(), *shape, generator=torch.Generator().manual_seed(0))
    served = optimize(model, batch)
    for _ in range(max(1, args.warmup)):
        call_model(served, batch)

    if world > 1:
        dist.barrier()  # every worker starts (and stops) serving over the same window
    samples, durations = 0, []
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        began = time.perf_counter()
        call_model(served, batch)
        durations.append(time.perf_counter() - began)
        samples += batch_size()
    elapsed = time.perf_counter() - start
    median = sorted(durations)[len(durations) // 2]
    mine = {"rank": int(os.environ.get("RANK", "0")), "cpus": sorted(os.sched_getaffinity(0)),
            "threads": torch.get_num_threads(), "samplesPerSecond": samples / elapsed,
            "medianSamplesPerSecond": batch_size() / median}
    every = [mine]
    if world > 1:
        every = [None] * world
        dist.all_gather_object(every, mine)
        dist.destroy_process_group()
    if mine["rank"] == 0:
        print(json.dumps({"samplesPerSecond": sum(w["samplesPerSecond"] for w in every),
                          "medianSamplesPerSecond": sum(w["medianSamplesPerSecond"] for w in every),
                          "workers": world, "batchSize": batch_size(), "perWorker": every}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
