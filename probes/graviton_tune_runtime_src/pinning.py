"""Worker pinning: each worker on its own CPUs, as graviton-tune measured it.

graviton-tune's probe pins itself with this very function (it sets the GT_* variables of
the configuration it measures, then imports this module), so what was measured is what
a deployed worker gets. It runs when the module is imported, before torch loads: the
OpenMP runtime computes its places (OMP_PLACES / OMP_PROC_BIND) from the affinity it sees
when it loads; pinned later, its threads could stay bound to another worker's cores.

The CPUs are split node by node (the NUMA nodes of /sys/devices/system/node): where the
nodes' CPU ids interleave (node0 = 0-47,96-143), a sorted split would give one worker CPUs
of both nodes. graviton-tune offers only worker counts whose slices each lie inside one node.
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional

from .base import ConfigError
from .settings import parse_cpu_list, settings

# Captured before any pinning, so pinning again (optimize() after import) takes the same slice.
_IMPORT_AFFINITY: Optional[List[int]] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else None

_CPU_HINT = "pass only CPUs from the usable set (see `graviton-tune detect`)"

_NODE_ROOT = "/sys/devices/system/node"


def _ranges(cpus: List[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    parts: List[str] = []
    start: Optional[int] = None
    for i, cpu in enumerate(cpus):
        if start is None:
            start = cpu
        if i + 1 == len(cpus) or cpus[i + 1] != cpu + 1:
            parts.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(parts)


def numa_nodes(root: str = _NODE_ROOT) -> List[List[int]]:
    """The CPUs of each NUMA node, nodes in id order ([] where the machine shows none; a
    node without CPUs, or whose cpulist cannot be read, is an empty list)."""
    try:
        ids = sorted(int(name[4:]) for name in os.listdir(root) if name.startswith("node") and name[4:].isdigit())
    except OSError:
        return []
    nodes: List[List[int]] = []
    for node in ids:
        try:
            with open(os.path.join(root, f"node{node}", "cpulist")) as f:
                text = f.read().strip()
            nodes.append(parse_cpu_list(text) if text else [])
        except (OSError, ConfigError):
            nodes.append([])
    return nodes


def node_order(pool: List[int], nodes: List[List[int]]) -> List[int]:
    """The pool node by node: each node's CPUs in order, CPUs in no node last (in order), so
    that contiguous slices stay inside a node even where the nodes' CPU ids interleave."""
    node_of: Dict[int, int] = {}
    for index, cpus in enumerate(nodes):
        for cpu in cpus:
            node_of.setdefault(cpu, index)
    return sorted(pool, key=lambda cpu: (node_of.get(cpu, len(nodes)), cpu))


def worker_cpus(environ: Optional[Mapping[str, str]] = None,
                nodes: Optional[List[List[int]]] = None) -> Optional[List[int]]:
    """This process's CPUs (sorted): the LOCAL_RANK-th equal contiguous slice among GT_WORKERS
    of GT_CPU_LIST (default: the CPUs this process could use when this module was imported)
    taken node by node (node_order; `nodes`: the CPUs of each NUMA node, default this
    machine's).

    None (leave placement alone) for one worker without GT_CPU_LIST, and for several
    workers outside torchrun (no LOCAL_RANK). CPUs left over when the list does not divide
    evenly stay unused: equal workers make the sum meaningful. ConfigError (code
    "too-few-cpus") when there are fewer CPUs than workers.
    """
    env = os.environ if environ is None else environ
    cfg = settings(env)
    workers, pool = cfg["workers"], cfg["cpu_list"]
    rank = env.get("LOCAL_RANK")
    if (workers > 1 and rank is None) or (workers <= 1 and pool is None):
        return None
    if pool is None:
        pool = _IMPORT_AFFINITY
    if pool is None:
        return None  # no sched_setaffinity on this platform
    per_worker = len(pool) // workers
    if per_worker == 0:
        raise ConfigError(f"{workers} workers need at least {workers} CPUs, the CPU list has {len(pool)}",
                          "too-few-cpus", "use fewer workers")
    ordered = node_order(pool, numa_nodes() if nodes is None else nodes)
    index = int(rank or 0)
    return sorted(ordered[index * per_worker:(index + 1) * per_worker])


def pin_worker(environ: Optional[Mapping[str, str]] = None) -> Optional[List[int]]:
    """Pin this process to worker_cpus() and read the affinity back. Returns the CPUs, or
    None when not pinned.

    Every existing thread is pinned, not only the caller, since the OpenMP pool may already
    be running. CPUs the process may not use (outside its cgroup cpuset, or not there at
    all) raise ConfigError with code "bad-cpu-list", naming them.
    """
    cpus = worker_cpus(environ)
    if cpus is None:
        return None
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass  # a thread that ended meanwhile; the caller's own failure shows below
    try:
        missing = sorted(set(cpus) - os.sched_getaffinity(0))
    except OSError:
        missing = sorted(cpus)
    if missing:
        raise ConfigError(f"the CPU list has CPUs this process may not use: {_ranges(missing)}", "bad-cpu-list", _CPU_HINT)
    return cpus


# Pin before torch loads (see the module's docstring). Import this module before torch.
try:
    pin_worker()
except ValueError:
    pass  # optimize() reports bad GT_* values and CPUs with a clear error
