"""Describe this Python environment for graviton-tune, as ONE JSON object on stdout.

    python inspect_env.py                       # the survey: python, torch, optional packages
    python inspect_env.py --require SPEC ...    # plus: is each requirement installed, at a good
                                                # version, and importable (used by `setup`)
    python inspect_env.py --require-only SPEC . # only the requirements (skips the survey)

Standalone on purpose (no graviton_tune_probe imports): it must run in any interpreter,
including one without torch, and it must never crash. Every import is isolated; anything
a library prints while importing goes to stderr, so stdout carries exactly one line.
Written for old Pythons too (no walrus, no match) so that a too-old interpreter is
reported as such instead of failing with a SyntaxError.
"""
import json
import platform
import re
import sys

# Optional packages the recipes care about: import name == distribution name for all.
OPTIONAL = ["torchvision", "torchao", "onnxruntime", "onnx", "onnxscript", "openvino", "nncf", "transformers", "timm"]


def first_line(exc):
    text = "%s: %s" % (type(exc).__name__, exc)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:500] if lines else type(exc).__name__


def dist_version(name):
    """Installed distribution version, or None. Tells "not installed" apart from "broken"."""
    try:
        from importlib import metadata
    except Exception:  # Python < 3.8
        return None
    try:
        return metadata.version(name)
    except Exception:
        return None


def module_exists(module):
    try:
        import importlib.util

        return importlib.util.find_spec(module) is not None
    except Exception:
        return False


def try_import(module):
    """(module object or None, error line or None)."""
    try:
        import importlib

        return importlib.import_module(module), None
    except BaseException as exc:  # SystemExit, ImportError, RuntimeError from C extensions…
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, first_line(exc)


def module_version(mod, name):
    version = getattr(mod, "__version__", None)
    if not isinstance(version, str):
        version = dist_version(name)
    # An importable package without any version metadata still counts as present.
    return str(version) if version else "unknown"


def survey_torch(errors):
    if not (module_exists("torch") or dist_version("torch")):
        return None
    torch, error = try_import("torch")
    if torch is None:
        errors["torch"] = error
        return None
    info = {"version": module_version(torch, "torch"), "cpuCapability": None, "numThreads": None, "mkldnn": None}
    try:
        info["cpuCapability"] = str(torch.backends.cpu.get_cpu_capability())
    except Exception:
        pass
    try:
        info["numThreads"] = int(torch.get_num_threads())
    except Exception:
        pass
    try:
        info["mkldnn"] = bool(torch.backends.mkldnn.is_available())
    except Exception:
        pass
    return info


def survey_packages(errors):
    packages = {}
    for name in OPTIONAL:
        packages[name] = None
        if not (module_exists(name) or dist_version(name)):
            continue
        mod, error = try_import(name)
        if mod is None:
            errors[name] = error
        else:
            packages[name] = module_version(mod, name)
    return packages


def parse_requirement(spec):
    """(distribution name, specifier object or None, exact version fallback or None)."""
    for prefix in ("packaging", "pip._vendor.packaging"):
        try:
            req_mod = __import__(prefix + ".requirements", fromlist=["Requirement"])
            req = req_mod.Requirement(spec)
            return req.name, req.specifier, None
        except ImportError:
            continue
        except Exception:
            break
    # No packaging library: understand "name" and "name==version" only.
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:==\s*([^\s;,]+))?\s*$", spec)
    if not match:
        return spec.strip(), None, None
    return match.group(1), None, match.group(2)


def import_name(dist):
    """The module a distribution provides: its own name when it has such a module (torch lists
    functorch first in top_level.txt), else the first public name in top_level.txt."""
    normalized = dist.replace("-", "_").replace(".", "_").lower()
    try:
        from importlib import metadata

        top = metadata.distribution(dist).read_text("top_level.txt") or ""
        names = [line.strip() for line in top.splitlines() if line.strip() and not line.strip().startswith("_")]
        if names and normalized not in names:
            return names[0]
    except Exception:
        pass
    return normalized


def check_requirement(spec):
    name, specifier, exact = parse_requirement(spec)
    installed = dist_version(name)
    if installed is None:
        satisfied = False
    elif specifier is not None and str(specifier):
        try:
            satisfied = bool(specifier.contains(installed, prereleases=True))
        except Exception:
            satisfied = False
    elif exact is not None:
        # "2.13.0" is satisfied by "2.13.0+cpu": local labels do not matter for ==.
        satisfied = installed == exact or installed.split("+")[0] == exact
    else:
        satisfied = True
    module = import_name(name)
    importable, error = False, None
    if installed is not None or module_exists(module):
        mod, error = try_import(module)
        importable = mod is not None
    return {
        "spec": spec,
        "name": name,
        "module": module,
        "installed": installed,
        "satisfied": satisfied,
        "importable": importable,
        "error": error,
    }


def parse_args(argv):
    require, survey = [], True
    mode = None
    for arg in argv:
        if arg in ("--require", "--require-only"):
            mode = "require"
            survey = survey and arg == "--require"
        elif mode == "require":
            require.append(arg)
    return require, survey


def main():
    real_stdout = sys.stdout
    # Libraries print banners and warnings on import: keep them off the protocol stream.
    sys.stdout = sys.stderr
    report = {
        "pythonVersion": platform.python_version(),
        "executable": sys.executable,
        "torch": None,
        "packages": {},
        "importErrors": {},
    }
    try:
        require, survey = parse_args(sys.argv[1:])
        if survey:
            report["torch"] = survey_torch(report["importErrors"])
            report["packages"] = survey_packages(report["importErrors"])
        if require:
            report["requirements"] = [check_requirement(spec) for spec in require]
    except BaseException as exc:  # never crash: say what went wrong instead
        if isinstance(exc, KeyboardInterrupt):
            raise
        report["inspectError"] = first_line(exc)
    real_stdout.write(json.dumps(report, separators=(",", ":")) + "\n")
    real_stdout.flush()


if __name__ == "__main__":
    main()
