"""The probe protocol: one JSON object per line on stdout, nothing else there.

Anything meant for people goes to stderr. Every failure a user can meet becomes an
`error` event with a stable code, a message and a hint (an exact command where one
helps), never only a traceback.
"""
from __future__ import annotations

import io
import json
import math
import os
import sys
from typing import Any, Optional


class ProbeError(Exception):
    """A failure with a stable code, a human message and a hint."""

    def __init__(self, code: str, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity: send null instead so the reader never chokes.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


_stdout = sys.stdout
_prefix = ""
_protected = False


def emit(event_type: str, **fields: Any) -> None:
    """Write one event line to the protocol stream (the real stdout) and flush."""
    line = json.dumps(_clean({"type": event_type, **fields}), separators=(",", ":"))
    _stdout.write(_prefix + line + "\n")
    _stdout.flush()


def protect_stdout() -> None:
    """Send stray prints (from libraries, user code) to stderr so stdout stays pure JSON lines.

    Python-level prints are not the only danger: native libraries (oneDNN's verbose
    mode, OpenMP runtimes, a user's C extension) write to file descriptor 1 directly.
    So the protocol keeps a private duplicate of fd 1 and fd 1 itself is pointed at
    stderr. Where the descriptors cannot be juggled (an embedded interpreter, a test
    harness that swapped sys.stdout) only the Python-level swap is done.
    """
    global _stdout, _protected
    if _protected:
        return
    _protected = True
    _stdout = sys.stdout
    try:
        sys.stdout.flush()
        protocol_fd = os.dup(sys.stdout.fileno())
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        _stdout = os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    sys.stdout = sys.stderr


def mute(prefix: str) -> None:
    """Send this process's protocol lines to stderr, tagged with `prefix`.

    Used by the non-zero ranks of a multi-worker probe: only rank 0 speaks the
    protocol on stdout, the others' events stay visible for debugging on stderr.
    """
    global _stdout, _prefix
    _stdout = sys.stderr
    _prefix = prefix


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (torch errors run long)."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


def emit_error(err: ProbeError) -> None:
    emit("error", code=err.code, message=err.message, hint=err.hint)
