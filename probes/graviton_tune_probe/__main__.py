"""Command line: `python -m graviton_tune_probe run --config '<json>' | @file.json | -`
(and `inspect --config …`: the model checked once before any probe, inspect_model.py).

Order matters here: stdout is protected first (nothing but protocol lines may reach
it), then the configuration is read and this worker pinned to its CPUs by the runtime
helper from the GT_* variables of the environment (which it reads as the deployment's
choices), and only then is torch imported (see workers.py for why pinning must come first).
The protocol is described in run.py's docstring.
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import List, Optional

from . import protocol, workers
from .config import parse_config, read_config_argument
from .protocol import ProbeError


class _Parser(argparse.ArgumentParser):
    """argparse that fails with a protocol error instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ProbeError("bad-usage", f"bad arguments: {message}",
                         "usage: python -m graviton_tune_probe run --config '<json>' (or @file.json, or - for stdin)")


def _arguments(argv: List[str]) -> argparse.Namespace:
    parser = _Parser(prog="python -m graviton_tune_probe", description="Measure one inference configuration.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="measure one configuration, JSON lines on stdout")
    run.add_argument("--config", required=True, help="ProbeConfig as JSON, @file.json, or - for stdin")
    look = commands.add_parser("inspect", help="load the model once and describe its inputs (inspect_model.py)")
    look.add_argument("--config", required=True, help="ProbeConfig as JSON, @file.json, or - for stdin")
    return parser.parse_args(argv)


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM (graviton-tune stopping a probe at its deadline, or Ctrl+C on the walk): unwind as
    an exit, so temporary folders (an ONNX export, its int8 copy) are removed on the way out,
    which the default action (die at once) leaves behind in /tmp."""
    raise SystemExit(128 + signum)


def main(argv: Optional[List[str]] = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    protocol.protect_stdout()
    identity = workers.identity_from_env()
    if not identity.leader:
        protocol.mute(f"[rank {identity.rank}] ")
    try:
        args = _arguments(sys.argv[1:] if argv is None else argv)
        cfg, warnings = parse_config(read_config_argument(args.config))
        if args.command == "inspect":
            from .inspect_model import inspect
            return inspect(cfg)
    except ProbeError as err:
        protocol.emit_error(err)
        return 2
    try:
        cpus, cfg.options = workers.pin()
        if cfg.options["workers"] > 1 and not identity.distributed:
            count = cfg.options["workers"]
            raise ProbeError("needs-torchrun", f"GT_WORKERS is {count}: several workers run under torchrun",
                             f"python -m torch.distributed.run --standalone --nproc-per-node {count} "
                             "-m graviton_tune_probe run --config ...")
        from .run import run_probe
    except ProbeError as err:
        protocol.emit_error(err)
        return 2
    except ImportError as err:
        if err.name == "torch":
            protocol.emit_error(ProbeError("missing-package", "PyTorch is not installed in this Python",
                                           "pip install torch"))
            return 2
        protocol.emit_error(workers.as_probe_error(err))
        return 2
    return run_probe(cfg, identity, cpus, warnings)


if __name__ == "__main__":
    sys.exit(main())
