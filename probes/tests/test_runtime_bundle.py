"""The deliverable graviton_tune_runtime.py is the bundle of graviton_tune_runtime_src/ and
the contract: fresh, one self-contained file, the package's public API."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBES = Path(__file__).resolve().parent.parent
REPO = PROBES.parent


@pytest.mark.skipif(shutil.which("node") is None or not (REPO / "dist").is_dir(),
                    reason="node is not on PATH, or no build (npm run build)")
def test_the_committed_bundle_is_fresh():
    done = subprocess.run(["node", str(REPO / "scripts" / "generate.mjs"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_bundle_alone_is_the_helper(tmp_path):
    # Copied next to an app, without the probes folder: it imports, and it carries the contract.
    shutil.copy(PROBES / "graviton_tune_runtime.py", tmp_path / "graviton_tune_runtime.py")
    script = (
        "import json, graviton_tune_runtime as rt, sys\n"
        "print(json.dumps({'file': rt.__file__, 'all': sorted(rt.__all__), 'contract': rt.CONTRACT,\n"
        "                  'settings': rt.settings({'GT_BATCH_SIZE': '4', 'GT_CPU_LIST': '0-1,3'}),\n"
        "                  'missing': [n for n in rt.__all__ if not hasattr(rt, n)]}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["file"] == str(tmp_path / "graviton_tune_runtime.py")
    assert seen["missing"] == []
    assert seen["contract"] == json.loads((PROBES / "graviton_tune_contract.json").read_text())
    assert seen["settings"]["batch_size"] == 4 and seen["settings"]["cpu_list"] == [0, 1, 3]
    sys.path.insert(0, str(PROBES))
    import graviton_tune_runtime_src as package

    assert seen["all"] == sorted(package.__all__)
    for name in ("optimize", "settings", "batch_size", "model_path", "onnx_inputs", "call_model", "pin_worker",
                 "load_samples", "token_inputs", "load_pretrained", "prepare_input"):
        assert name in seen["all"]


def test_settings_follow_the_contract():
    sys.path.insert(0, str(PROBES))
    import graviton_tune_runtime as rt

    contract = json.loads((PROBES / "graviton_tune_contract.json").read_text())
    names = {option["python"] for option in contract["options"]}
    assert set(rt.settings({})) == names
    for option in contract["options"]:
        assert rt.settings({})[option["python"]] == option["default"], option["key"]
        if option["type"] == "enum":
            with pytest.raises(rt.ConfigError, match=option["env"]):
                rt.settings({option["env"]: "nonsense"})
            assert rt.settings({option["env"]: option["choices"][-1].upper()})[option["python"]] == option["choices"][-1]
        if option["type"] == "int" and option["min"] is not None:
            with pytest.raises(rt.ConfigError, match=f"{option['env']}.*expected {option['min']} or more"):
                rt.settings({option["env"]: str(option["min"] - 1)})


def test_pinning_says_what_is_wrong():
    sys.path.insert(0, str(PROBES))
    import graviton_tune_runtime as rt

    with pytest.raises(rt.ConfigError) as info:
        rt.worker_cpus({"GT_WORKERS": "3", "GT_CPU_LIST": "0-1", "LOCAL_RANK": "0"})
    assert info.value.code == "too-few-cpus"
    assert rt.worker_cpus({"GT_WORKERS": "2", "GT_CPU_LIST": "0-4", "LOCAL_RANK": "1"}) == [2, 3]
    assert rt.worker_cpus({"GT_WORKERS": "2", "GT_CPU_LIST": "0-3"}) is None  # outside torchrun
    assert rt.worker_cpus({"GT_WORKERS": "1"}) is None


def test_workers_split_node_by_node(tmp_path):
    sys.path.insert(0, str(PROBES))
    import graviton_tune_runtime as rt

    def env(rank: int, workers: int = 2) -> dict:
        return {"GT_WORKERS": str(workers), "GT_CPU_LIST": "0-191", "LOCAL_RANK": str(rank)}

    # Contiguous nodes (the graviton5 tree's): the plain sorted split already keeps each worker on one node.
    contiguous = [list(range(0, 96)), list(range(96, 192))]
    assert [rt.worker_cpus(env(r), contiguous) for r in (0, 1)] == contiguous
    assert [rt.worker_cpus(env(r, 4), contiguous) for r in range(4)] == [list(range(48 * i, 48 * i + 48)) for i in range(4)]
    # Interleaved ids: taken node by node, each worker's CPUs are one node's.
    interleaved = [list(range(0, 48)) + list(range(96, 144)), list(range(48, 96)) + list(range(144, 192))]
    assert [rt.worker_cpus(env(r), interleaved) for r in (0, 1)] == interleaved
    quarters = [rt.worker_cpus(env(r, 4), interleaved) for r in range(4)]
    assert quarters == [list(range(0, 48)), list(range(96, 144)), list(range(48, 96)), list(range(144, 192))]
    # No nodes known: the sorted split, as before.
    assert rt.worker_cpus(env(0), []) == list(range(96))
    # CPUs in no node come last.
    assert rt.node_order([0, 1, 2, 3, 4], [[3, 4], [0]]) == [3, 4, 0, 1, 2]

    # The nodes as the kernel shows them: node<N>/cpulist, a memory-only node's empty, other files ignored.
    for node, cpulist in ((0, "0-47,96-143"), (1, "48-95,144-191"), (2, "")):
        (tmp_path / f"node{node}").mkdir()
        (tmp_path / f"node{node}" / "cpulist").write_text(cpulist + "\n")
    (tmp_path / "online").write_text("0-2\n")
    assert rt.numa_nodes(str(tmp_path)) == interleaved + [[]]
    assert rt.numa_nodes(str(tmp_path / "missing")) == []
