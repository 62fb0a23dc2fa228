"""The probe protocol: one JSON object per line on stdout, nothing else there.

Anything meant for people goes to stderr. Every failure a user can meet becomes an
`error` event with a stable code, a message and a hint (an exact command where one
helps), never only a traceback.
"""
from __future__ import annotations

import json
import math
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


def emit(event_type: str, **fields: Any) -> None:
    """Write one event line to the protocol stream (the real stdout) and flush."""
    line = json.dumps(_clean({"type": event_type, **fields}), separators=(",", ":"))
    _stdout.write(line + "\n")
    _stdout.flush()


def protect_stdout() -> None:
    """Send stray prints (from libraries, user code) to stderr so stdout stays pure JSON lines."""
    global _stdout
    _stdout = sys.stdout
    sys.stdout = sys.stderr


def emit_error(err: ProbeError) -> None:
    emit("error", code=err.code, message=err.message, hint=err.hint)
