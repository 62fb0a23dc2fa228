"""The service side of a finished walk, run through the deployed launch.sh: the runtime
helper written to OUT applies the winner's GT_* choices to test/arm/small_model.py and
runs one batch. Prints one JSON line: the environment it was started with, the helper's
settings, and the output's shape.  Usage: python apply_winner.py OUT_DIR"""
import json
import os
import sys

out_dir = sys.argv[1]
sys.path.insert(0, out_dir)  # graviton_tune_runtime.py as deployed
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from graviton_tune_runtime import batch_size, optimize, settings  # noqa: E402
from small_model import build_model  # noqa: E402

x = torch.randn(batch_size(), 3, 32, 32, generator=torch.Generator().manual_seed(0))
model = optimize(build_model(), x)
with torch.inference_mode():
    y = model(x)
print(json.dumps({
    "helper": os.path.abspath(sys.modules["graviton_tune_runtime"].__file__),
    "environ": {k: v for k, v in os.environ.items() if k.startswith(("GT_", "DNNL_", "OMP_", "LD_PRELOAD", "THP_", "LRU_"))},
    "settings": settings(),
    "outputShape": list(y.shape),
    "outputDtype": str(y.dtype),
}))
