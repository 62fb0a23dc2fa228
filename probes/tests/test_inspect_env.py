"""inspect_env.py's kept survey: reused while the environment is unchanged, redone when it changes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from conftest import PROBES

SCRIPT = PROBES / "inspect_env.py"
# A plain interpreter keeps the survey fast (no torch to import); the logic is the same.
PYTHON = shutil.which("python3") or sys.executable


def survey(cache, packages):
    env = {**os.environ, "PYTHONPATH": str(packages)}
    done = subprocess.run([PYTHON, str(SCRIPT), "--cache", str(cache)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_survey_is_kept_and_redone_when_a_package_changes(tmp_path):
    cache, packages = tmp_path / "cache", tmp_path / "site"
    packages.mkdir()
    module = packages / "timm.py"  # one of the optional packages the survey looks for
    module.write_text("raise ImportError('broken on purpose')\n")

    first = survey(cache, packages)
    assert "cached" not in first
    assert first["importErrors"]["timm"] == "ImportError: broken on purpose"
    assert len(list(cache.glob("survey-*.json"))) == 1
    assert not list(cache.glob("*.tmp"))

    again = survey(cache, packages)
    assert again["cached"] is True
    assert {k: again[k] for k in ("torch", "packages", "importErrors")} == {k: first[k] for k in ("torch", "packages", "importErrors")}

    # Mended in place: the file's modification time is part of the key, so the survey runs again.
    module.write_text("__version__ = '9.9'\n")
    later = time.time() + 5
    os.utime(module, (later, later))
    mended = survey(cache, packages)
    assert "cached" not in mended
    assert mended["packages"]["timm"] == "9.9" and "timm" not in mended["importErrors"]


def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    report = survey(blocker / "cache", tmp_path)
    assert "inspectError" not in report and "cached" not in report
    assert report["pythonVersion"]


def test_another_cpu_does_not_reuse_the_survey(monkeypatch):
    # torch's CPU capability is the CPU's: a disk image booted on another CPU (or the
    # emulated Graviton2 after the emulated Graviton3, same venv) must survey again.
    import importlib.util
    spec = importlib.util.spec_from_file_location("inspect_env_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    here = module.cpu_identity()
    caps, fields = here
    assert caps is None or all(isinstance(c, int) for c in caps)
    assert any(f.startswith(("flags=", "Features=")) for f in fields), fields
    assert not any(f.startswith("cpu MHz") for f in fields)  # the clock moves; the key must not
    key = module.survey_key()
    assert module.survey_key() == key
    monkeypatch.setattr(module, "cpu_identity", lambda: [caps, fields + ["Features=fp asimd"]])
    assert module.survey_key() != key


def test_an_allocator_linked_into_torch_is_named_by_its_symbol(tmp_path):
    import inspect_env

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libc10.so").write_bytes(b"\x7fELF...mi_malloc_aligned\x00...")
    assert inspect_env.bundled_allocator(str(lib)) == "mimalloc"
    (lib / "libc10.so").write_bytes(b"\x7fELF...malloc\x00free\x00")
    assert inspect_env.bundled_allocator(str(lib)) is None
    assert inspect_env.bundled_allocator(str(tmp_path / "missing")) is None
