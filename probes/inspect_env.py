"""Describe this Python environment for graviton-tune, as ONE JSON object on stdout.

    python inspect_env.py                       # the survey: python, torch, optional packages
    python inspect_env.py --require SPEC ...    # plus: is each requirement installed, at a good
                                                # version, and importable (used by `setup`)
    python inspect_env.py --require-only SPEC . # only the requirements (skips the survey)
    python inspect_env.py --cache DIR           # the survey, kept in DIR: reused while nothing
                                                # it looked at changed (see survey_key)

Standalone on purpose (no graviton_tune_probe imports): it must run in any interpreter,
including one without torch, and it must never crash. Every import is isolated; anything
a library prints while importing goes to stderr, so stdout carries exactly one line.
Written for old Pythons too (no walrus, no match) so that a too-old interpreter is
reported as such instead of failing with a SyntaxError.
"""
import hashlib
import json
import os
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
    info["bundledAllocator"] = bundled_allocator(os.path.join(os.path.dirname(torch.__file__), "lib"))
    return info


# An allocator linked into torch's own libraries, by a symbol only it defines. PyTorch's aarch64
# builds link mimalloc (USE_MIMALLOC) from 2.10 for the CPU tensors' memory (c10's alloc_cpu);
# everything else still comes from the process's malloc, which LD_PRELOAD replaces.
_BUNDLED = (("mimalloc", b"mi_malloc_aligned"),)


def bundled_allocator(lib_dir):
    """'mimalloc' when torch's c10 library carries it, else None (also when it cannot be read)."""
    try:
        names = [n for n in os.listdir(lib_dir) if n.startswith("libc10.") and ".so" in n]
    except OSError:
        return None
    for name in names:
        try:
            with open(os.path.join(lib_dir, name), "rb") as f:
                data = f.read()
        except OSError:
            continue
        for allocator, symbol in _BUNDLED:
            if symbol in data:
                return allocator
    return None


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


# What a kept survey holds: a survey kept before a field was added is taken again.
SURVEY_FORMAT = 2


def survey_key():
    """What the survey depends on, read without importing anything: this interpreter, every
    installed distribution and its version, and where torch and each optional package live
    with their files' modification times (a package edited or replaced in place changes it),
    the variables that set torch's thread count, and the CPU (cpu_identity). The imports take 8-11 s on a 2-vCPU
    machine (torchao, onnx, onnxscript, nncf, transformers); a matching key skips them."""
    from importlib import metadata
    import importlib.util

    dists = sorted("%s==%s" % (d.metadata["Name"], d.version) for d in metadata.distributions())
    places = {}
    for name in ["torch"] + OPTIONAL:
        try:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            places[name] = [origin, os.stat(origin).st_mtime_ns] if origin else None
        except Exception as exc:
            places[name] = first_line(exc)
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        cpus = len(os.sched_getaffinity(0))
    except Exception:
        cpus = os.cpu_count()
    text = json.dumps([SURVEY_FORMAT, sys.executable, sys.version, dists, places, threads, cpus, cpu_identity()],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# The /proc/cpuinfo fields that name the CPU and what it can do (not its clock, which moves).
CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "flags",
              "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "Features")


def cpu_identity():
    """What torch's CPU capability (and the kernels it picks) depends on: the kernel's hardware
    capability words (AT_HWCAP, AT_HWCAP2: what torch's cpuinfo reads on Arm, and what QEMU
    emulates) and the CPU's name and flags from /proc/cpuinfo. A disk image booted on another
    CPU (an AMI built on Graviton3 and run on Graviton2) must not reuse the survey."""
    caps = None
    try:
        import ctypes
        getauxval = ctypes.CDLL(None).getauxval
        getauxval.restype = ctypes.c_ulong
        getauxval.argtypes = [ctypes.c_ulong]
        caps = [getauxval(16), getauxval(26)]
    except Exception:
        pass
    fields = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() in CPU_FIELDS:
                    fields.add("%s=%s" % (name.strip(), value.strip()))
    except OSError:
        pass
    return [caps, sorted(fields)]


def cached_survey(folder):
    """(key, the kept survey or None). Never raises: a cache that cannot be read is a miss."""
    try:
        key = survey_key()
    except Exception:
        return None, None
    try:
        with open(os.path.join(folder, "survey-%s.json" % key)) as f:
            kept = json.load(f)
        if isinstance(kept, dict) and set(kept) == {"torch", "packages", "importErrors"}:
            return key, kept
    except Exception:
        pass
    return key, None


def keep_survey(folder, key, survey):
    """Write the survey where cached_survey finds it: a temporary file renamed into place, so a
    reader never sees half of one. A folder that cannot be written only costs the next run time."""
    try:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "survey-%s.json" % key)
        partial = "%s.%d.tmp" % (path, os.getpid())
        with open(partial, "w") as f:
            json.dump(survey, f)
        os.replace(partial, path)
    except Exception:
        pass


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
    require, survey, cache = [], True, None
    mode = None
    for arg in argv:
        if arg in ("--require", "--require-only"):
            mode = "require"
            survey = survey and arg == "--require"
        elif arg == "--cache":
            mode = "cache"
        elif mode == "cache":
            cache, mode = arg, None
        elif mode == "require":
            require.append(arg)
    return require, survey, cache


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
        require, survey, cache = parse_args(sys.argv[1:])
        if survey:
            key, kept = cached_survey(cache) if cache else (None, None)
            if kept is not None:
                report.update(kept)
                report["cached"] = True
            else:
                report["torch"] = survey_torch(report["importErrors"])
                report["packages"] = survey_packages(report["importErrors"])
                if key:
                    keep_survey(cache, key, {k: report[k] for k in ("torch", "packages", "importErrors")})
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
