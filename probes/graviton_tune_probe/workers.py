"""Several pinned workers under torchrun, measured over the same window and summed.

The TypeScript side launches
    python -m torch.distributed.run --standalone --nproc-per-node N \\
        -m graviton_tune_probe run --config ...
and every worker runs the same probe. This module is what differs between them:

- Identity: RANK / WORLD_SIZE from torchrun's environment; without them the probe
  is one process (a Team of one, so run.py has a single code path).
- Pinning: each worker takes its own contiguous, equal slice of cpuList (default:
  the CPUs this process may use), sorted NUMA node by node so that a slice stays on
  one node, and pins itself, through the runtime
  helper's pin_worker (the one a deployed worker runs, see pin()). This happens
  before torch is imported, because the OpenMP runtime reads its places
  (OMP_PLACES / OMP_PROC_BIND) from the affinity it sees when it loads; pinned
  later, threads could stay bound to another worker's cores.
- Agreement: after each stage every worker reports ok-or-error to all the others
  (all_gather_object over gloo). One failing worker therefore never leaves the
  others waiting in a collective: all stop, and rank 0 tells the story.
- Only rank 0 speaks the protocol on stdout; the others' lines go to stderr.

Nothing here imports torch at module level: pinning must come first.
"""
from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from .protocol import ProbeError, first_line

T = TypeVar("T")


@dataclass
class Identity:
    rank: int
    world: int

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


def identity_from_env() -> Identity:
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        rank, world = 0, 1
    return Identity(rank, max(1, world))


def pin() -> Tuple[Optional[List[int]], Dict[str, Any]]:
    """Pin this worker as a deployed one is pinned: from the GT_* variables of this process's
    environment (graviton-tune sets exactly the env file's lines), the runtime helper is
    imported, which pins the worker before it imports torch (pin_worker, with the read-back
    check), exactly as in an app that imports it first. Returns the CPUs (None: not pinned)
    and the helper's settings() of those variables; a CPU list the process cannot use, or a
    value the helper does not understand, is a ProbeError naming it."""
    if "LOCAL_RANK" not in os.environ and "RANK" in os.environ:
        os.environ["LOCAL_RANK"] = os.environ["RANK"]  # --standalone: one node, the same numbers
    import graviton_tune_runtime as rt  # pins on import, before torch loads

    try:
        cpus = rt.pin_worker()  # again, to hear about a failure the import kept quiet
        return cpus, rt.settings()
    except rt.ConfigError as err:
        raise ProbeError(err.code, err.message, err.hint) from None


def as_probe_error(exc: BaseException) -> ProbeError:
    """Any failure as a ProbeError: out-of-memory recognised, the rest 'internal' (traceback to stderr)."""
    if isinstance(exc, ProbeError):
        return exc
    if is_out_of_memory(exc):
        return ProbeError("out-of-memory", f"ran out of memory: {first_line(exc)}",
                          "use a smaller batch size or fewer workers, or a machine with more memory")
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return ProbeError("internal", f"{type(exc).__name__}: {first_line(exc)}",
                      "an unexpected failure inside the probe; the traceback is on stderr")


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "alloc" in text or "out of memory" in text
    return False


class Team:
    """The workers of one probe. A Team of one needs no torch.distributed at all."""

    def __init__(self, identity: Identity, cpus: Optional[List[int]]):
        self.rank = identity.rank
        self.world = identity.world
        self.leader = identity.leader
        self.cpus = cpus
        self._joined = False

    def join(self) -> None:
        if self.world == 1:
            return
        import datetime

        import torch.distributed as dist

        # gloo: CPU-only, in every torch build. The long timeout covers the slowest
        # worker's preparation (compiling a large model) between two agreements.
        dist.init_process_group("gloo", timeout=datetime.timedelta(minutes=30))
        self._joined = True

    def step(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one stage on every worker; if any worker failed, all raise the first failure."""
        value, error = None, None
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - every failure must reach the agreement
            error = as_probe_error(exc)
        self.agree(error)
        return value

    def agree(self, error: Optional[ProbeError]) -> None:
        if not self._joined:
            if error is not None:
                raise error
            return
        import torch.distributed as dist

        mine = None if error is None else {"code": error.code, "message": error.message, "hint": error.hint}
        everyone: List[Any] = [None] * self.world
        dist.all_gather_object(everyone, mine)
        for rank, failure in enumerate(everyone):
            if failure is not None:
                message = failure["message"] if rank == self.rank else f"worker {rank}: {failure['message']}"
                raise ProbeError(failure["code"], message, failure["hint"])

    def barrier(self) -> None:
        if self._joined:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, figure: Any) -> List[Any]:
        if not self._joined:
            return [figure]
        import torch.distributed as dist

        everyone: List[Any] = [None] * self.world
        dist.all_gather_object(everyone, figure)
        return everyone

    def close(self) -> None:
        if self._joined:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._joined = False
