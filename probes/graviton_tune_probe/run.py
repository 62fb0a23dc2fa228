"""One probe: load the model, compute the reference, apply the configuration, warm up,
measure, check, and report, as JSON lines on stdout.

What is measured is what is served, by construction: the configuration is applied by the
runtime helper's optimize() (graviton_tune_runtime.py, the file graviton-tune copies next
to the user's code), from the GT_* variables of this process's environment, which graviton-tune
sets to exactly the lines the env file will hold (the probe is an app), and
the timed loop calls what optimize() returns with the input as the app has it, the way
an app calls it (call_model). The grad mode, the channels_last conversion of inputs and
autocast are the served model's own, not the probe's. Only the fp32 reference is computed
here, on the unmodified model.

Events (field names exactly as emitted; see ProbeEvent in source/core/types.ts):
  {"type":"start","pid":…,"python":"3.11.7","torch":"2.13.0+cpu","threads":2[,"rank":0,"world":2]}
  {"type":"phase","phase":"load"}                   a phase begins
  {"type":"phase","phase":"load","seconds":0.41}    the same phase ends, with its duration
      phases, in order, each only when it happens: load, reference, export, quantize,
      compile (torch.compile and int8: the first call, where inductor compiles; ONNX
      Runtime and OpenVINO: the session and its first call), warmup, measure. The
      phases inside optimize() (export, quantize, compile) are announced by the runtime
      helper and closed here, each when the next begins or optimize() returns.
  {"type":"progress","samplesPerSecond":…,"iterations":…,"elapsedSeconds":…,"relativeCi":…|null}
      during measure, at most 4 per second; with several workers, rank 0's rate
      times the number of workers (an estimate: the result has the real sum)
  {"type":"log","level":"info"|"warning","message":…}
  {"type":"result", …ProbeResult fields…}   exit code 0
  {"type":"error","code":…,"message":…,"hint":…}   exit code 2 (under torchrun the
      launcher's own exit code is non-zero, its value is torchrun's)

Timing fields: setupSeconds = load + export/quantize + compile + warm-up (the cost a
service pays before its first useful answer; the reference, a cost of the check
only, is left out); warmupSeconds = compile + warm-up (the compile phase is the
first warm-up call); measureSeconds = the timed window; cachedSeconds = the part of
setupSeconds (a conversion) kept in GRAVITON_TUNE_CACHE_DIR, which the next probe of
the same configuration reads back instead (0 when read from there, or nothing kept);
inductorCache = inductor's graph cache in TORCHINDUCTOR_CACHE_DIR: graphs read back (hits),
compiled here (misses), or compiled without it (bypassed: frozen weights; their kernels
are still kept in and read back from the folder), present only where inductor ran.

Error codes: bad-usage, bad-config, needs-torchrun, bad-cpu-list, too-few-cpus,
unknown-model, model-not-found, unsupported-model-file, model-load-failed,
factory-failed, needs-input-shape, missing-package, onnx-needs-onnx-backend,
backend-unavailable, bad-input-shape, bad-output, compile-failed, forward-failed,
check-shape-mismatch, out-of-memory, internal (plus the runtime helper's BackendError
and ConfigError codes, passed on as they are: see graviton_tune_runtime.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import graviton_tune_runtime as rt
import torch

from . import check as output_check
from . import generate as generation
from . import kernels
from . import measure as measuring
from . import paired
from .config import ProbeConfig
from .models import LoadedModel, OutputPicker, load_model
from .protocol import ProbeError, emit, emit_error, first_line
from .workers import Identity, Team, as_probe_error, is_out_of_memory

# A folder the walk gives its probes to keep converted models in (OpenVINO IR): a
# configuration measured again (a re-check, the final verification, a paired comparison)
# reads it back instead of converting and quantizing again. Set by graviton-tune's session.
CACHE_ENV = "GRAVITON_TUNE_CACHE_DIR"

# The output check on real samples runs on at most this many batches of them.
MAX_CHECK_BATCHES = 16


# oneDNN's process-wide default math mode: anything but strict makes fp32 ops lossy.
_LOSSY_MATH_VARIABLES = ("DNNL_DEFAULT_FPMATH_MODE", "ONEDNN_DEFAULT_FPMATH_MODE")


def lossy_math_variables(environ: Any) -> List[str]:
    """The oneDNN default-math-mode variables set to something other than strict fp32."""
    return [k for k in _LOSSY_MATH_VARIABLES if environ.get(k, "").strip().upper() not in ("", "STRICT")]


# The child of _strict_references: the same model and inputs, plain eager, strict math.
_STRICT_REFERENCE = """
import json, sys, torch
from graviton_tune_probe.config import ModelSpec
from graviton_tune_probe.models import load_model
import graviton_tune_runtime as rt
spec, backend, seed, inputs, out = json.loads(sys.argv[1])
loaded = load_model(ModelSpec(**spec), backend, seed)
xs = torch.load(inputs, weights_only=False)
if loaded.task == "generate":
    from graviton_tune_probe.generate import reference
    torch.save([reference(loaded.module, x, loaded.new_tokens) for x in xs], out)
else:
    with torch.inference_mode():
        torch.save([rt.call_model(loaded.module, x) for x in xs], out)
"""

class Prepared:
    """Everything the measurement needs, and what preparing it cost."""

    def __init__(self) -> None:
        self.call: Callable[[Any], Any] = lambda x: None  # input (any form) -> output
        self.model: Callable[..., Any] = lambda *a, **k: None  # what optimize() returned, called as the app calls it
        self.input: Any = None
        self.reference: Optional[torch.Tensor] = None
        self.check: Optional[dict] = None
        self.loaded: Optional[LoadedModel] = None
        self.check_batches: List[Any] = []
        self.references: List[torch.Tensor] = []
        # Generation: the fp32 eager prefill logits and tokens, and the recorder of the served generate() calls.
        self.generated: Optional[Dict[str, torch.Tensor]] = None
        self.recorder: Optional[generation.Recorder] = None
        self.setup_seconds = 0.0
        self.warmup_seconds = 0.0
        # Seconds of this preparation a later probe of the same configuration skips (a
        # conversion kept in the walk's cache; 0 when it was read from there or none is kept).
        self.cached_seconds = 0.0


class _PhaseClock:
    """The phases optimize() announces (begin only), as protocol events with their durations:
    each one ends when the next begins, or when end() is called."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {}
        self._open: Optional[Tuple[str, float]] = None

    def begin(self, name: str) -> None:
        self.end()
        emit("phase", phase=name)
        self._open = (name, time.perf_counter())

    def end(self) -> None:
        if self._open is not None:
            name, started = self._open
            seconds = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            emit("phase", phase=name, seconds=seconds)
            self._open = None


class Probe:
    def __init__(self, cfg: ProbeConfig, team: Team):
        self.cfg = cfg
        self.team = team
        self.picker = OutputPicker()
        self.calibrated: Optional[dict] = None  # what int8 calibrated on, when it did

    # ------------------------------------------------------------ the whole run

    def run(self) -> None:
        prepared = self.team.step(self._prepare)
        if paired.requested():  # a warm probe measuring on command (paired.py)
            return paired.serve(self, prepared)
        self.team.barrier()  # everyone starts measuring together
        measurement = self.team.step(self._measure, prepared)
        figures = self.team.gather(self._figure(prepared, measurement))
        if self.team.leader:
            result = self._result(figures, prepared)
            found = self._kernels(prepared)
            if found is not None:
                result["kernels"] = found
            score = self._evaluate(prepared)
            if score is not None:
                result["score"] = score
            emit("result", **result)

    # ------------------------------------------------------------ preparation

    def _prepare(self) -> Prepared:
        cfg, out = self.cfg, Prepared()
        started = time.perf_counter()
        with self._phase("load"):
            loaded = load_model(cfg.model, cfg.options["backend"], cfg.seed)
            out.input = loaded.make_input(cfg.options["batch_size"], cfg.seed)
            out.loaded = loaded
        if loaded.task == "generate":
            return self._prepare_generation(out, loaded, started)
        reference_seconds = 0.0
        if self.team.leader:
            t0 = time.perf_counter()
            if cfg.check:
                with self._phase("reference"):
                    if loaded.samples is not None:
                        out.check_batches = loaded.sample_batches(cfg.options["batch_size"])[:MAX_CHECK_BATCHES]
                    out.reference, *rest = self._references(loaded, [out.input, *(out.check_batches or [])])
                    if loaded.samples is not None:
                        out.references = rest
            else:
                self._smoke_test(loaded, out.input)  # catch a wrong input shape with a clear error anyway
            reference_seconds = time.perf_counter() - t0
        model, compile_seconds, out.cached_seconds = self._configure(loaded, out.input)
        out.model = model
        call = self._invoker(model)
        output, warmup_seconds = self._warm_up(call, out.input, first_call_done=compile_seconds is not None)
        out.warmup_seconds = (compile_seconds or 0.0) + warmup_seconds
        if out.reference is not None:
            out.check = self._check(out, call, output)
        out.call = call
        out.setup_seconds = time.perf_counter() - started - reference_seconds
        return out

    def _prepare_generation(self, out: Prepared, loaded: LoadedModel, started: float) -> Prepared:
        """A language model measured generating (generate.py): the fp32 eager reference tokens,
        the served model, warm-up calls of its generate(), the token check."""
        cfg = self.cfg
        reference_seconds = 0.0
        if self.team.leader and cfg.check:
            t0 = time.perf_counter()
            with self._phase("reference"):
                out.generated = self._generation_reference(loaded, out.input)
            reference_seconds = time.perf_counter() - t0
        model, _, out.cached_seconds = self._configure(loaded, out.input)
        out.model = model
        out.recorder = generation.Recorder(model, loaded.module, loaded.new_tokens, cfg.options["batch_size"])
        _, out.warmup_seconds = self._warm_up(out.recorder, out.input, first_call_done=False)
        if out.generated is not None:
            out.check = {**generation.check(out.generated, out.recorder, out.input), "data": "random",
                         "rows": cfg.options["batch_size"]}
        out.call = out.recorder
        out.recorder.keep = True
        out.setup_seconds = time.perf_counter() - started - reference_seconds
        return out

    def _generation_reference(self, loaded: LoadedModel, prompts: Any) -> Dict[str, torch.Tensor]:
        """fp32 eager's prefill logits and greedy tokens; from a clean child when oneDNN's math mode is lossy."""
        lossy = lossy_math_variables(os.environ)
        strict = self._strict_references(lossy, [prompts]) if lossy else None
        if strict is not None:
            return strict[0]
        return self._explained(loaded, prompts, lambda: generation.reference(loaded.module, prompts, loaded.new_tokens))

    def _invoker(self, model: Callable[..., Any]) -> Callable[[Any], Any]:
        """input -> model(x), model(*inputs) or model(**inputs): the runtime helper's call_model."""
        def call(inputs: Any) -> Any:
            return rt.call_model(model, inputs)
        return call

    def _check(self, out: Prepared, call: Callable[[Any], Any], output: Any) -> dict:
        """The output check: on the real samples when given (all their batches, up to
        MAX_CHECK_BATCHES), else on the seeded input. Says which, and on how many rows."""
        if not out.check_batches:
            check = output_check.compare(out.reference, self.picker(output).float())
            rows = rt.batch_rows(out.input)[0][1] or 0
            return {**check, "data": "random", "rows": rows}
        outputs = [self.picker(call(batch)).float() for batch in out.check_batches]
        check = output_check.compare_batches(out.references, outputs)
        return {**check, "data": "samples", "rows": len(out.check_batches) * self.cfg.options["batch_size"]}

    def _kernels(self, prepared: Prepared) -> Optional[dict]:
        """What ran (kernels.py): after the timed calls, from the runtime's own account of one more."""
        try:
            return kernels.account(prepared.model, self.cfg.options["backend"],
                                   lambda: prepared.call(prepared.input), prepared.input, rt.call_model)
        except Exception as err:  # the account is a report, never a reason to lose the measurement
            emit("log", level="warning", message=f"no kernel account for this probe: {type(err).__name__}: "
                 f"{first_line(err)}")
            return None

    def _evaluate(self, prepared: Prepared) -> Optional[float]:
        """The user's evaluate(model) -> float on the configured model, when the model file has one."""
        loaded = prepared.loaded
        if loaded is None or loaded.evaluate is None or not self.cfg.evaluate:
            return None

        def model(*args: Any, **kwargs: Any) -> Any:
            return prepared.model(*args, **kwargs)

        model.batch_size = self.cfg.options["batch_size"]  # type: ignore[attr-defined]  # shape-specialised backends need it
        if loaded.task == "generate":  # a language model is scored generating, as it is served
            model.generate = prepared.model.generate  # type: ignore[attr-defined]

        with self._phase("evaluate"):
            try:
                score = loaded.evaluate(model)
            except ProbeError:
                raise
            except Exception as err:
                import traceback

                traceback.print_exc(file=sys.stderr)
                raise ProbeError("evaluate-failed", f"evaluate(model) in {loaded.label} raised "
                                 f"{type(err).__name__}: {first_line(err)}",
                                 "evaluate gets a callable that runs the configured model; its output is what the "
                                 "model returns (ONNX Runtime, OpenVINO, int8: the first output tensor)") from None
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise ProbeError("evaluate-failed", f"evaluate(model) in {loaded.label} returned "
                             f"{type(score).__name__}, not a number", "return one float: higher is better") from None
        emit("log", level="info", message=f"evaluate(model) = {value:.6g}")
        return value

    def _references(self, loaded: LoadedModel, inputs: List[Any]) -> List[Optional[torch.Tensor]]:
        """The unmodified fp32 eager output on each input (the seeded one, then any --samples
        batches): what every configuration is checked against."""
        if loaded.module is None:
            return [self._onnx_reference(loaded, x) for x in inputs]
        with torch.inference_mode():
            outputs = [self._forward_or_explain(loaded, loaded.module, x) for x in inputs]
        lossy = lossy_math_variables(os.environ)
        if lossy:
            # oneDNN reads its default math mode once per process, so in this process the
            # "fp32" reference would be bf16 math too and the check would compare bf16
            # with bf16 (seen under Arm emulation: cosine 1, max error 0). A clean child
            # computes it instead, for all inputs at once.
            strict = self._strict_references(lossy, inputs)
            if strict is not None:
                outputs = strict
        return [self.picker(output).detach().float().clone() for output in outputs]

    def _strict_references(self, lossy: List[str], x: List[Any]) -> Optional[List[Any]]:
        """The references from a child process without the variables in `lossy` (None if that fails)."""
        cfg = self.cfg
        env = {k: v for k, v in os.environ.items() if k not in lossy}
        with tempfile.TemporaryDirectory(prefix="gt-reference-") as tmp:
            out = os.path.join(tmp, "reference.pt")
            inputs = os.path.join(tmp, "inputs.pt")
            torch.save(x, inputs)  # the very inputs this process checks (seeded, and batches of --samples)
            job = json.dumps([dataclasses.asdict(cfg.model), cfg.options["backend"], cfg.seed, inputs, out])
            done = subprocess.run([sys.executable, "-c", _STRICT_REFERENCE, job], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            if done.returncode != 0 or not os.path.exists(out):
                emit("log", level="warning", message=f"the fp32 reference without {', '.join(lossy)} could not be "
                     f"computed ({(done.stderr or '').strip().splitlines()[-1:] or ['exit ' + str(done.returncode)]}); "
                     f"the output check compares against this process's math, which {', '.join(lossy)} changes")
                return None
            output = torch.load(out, weights_only=False)
        emit("log", level="info", message=f"fp32 reference computed in a separate process without {', '.join(lossy)} "
             "(it changes every oneDNN call of the process it is set in)")
        return output

    def _smoke_test(self, loaded: LoadedModel, x: Any) -> None:
        """Without a reference, one plain forward still turns a wrong input into a clear error.

        The full batch, not one sample: exported programs may accept only their batch size."""
        if loaded.module is not None:
            with torch.inference_mode():
                self.picker(self._forward_or_explain(loaded, loaded.module, x))

    def _forward_or_explain(self, loaded: LoadedModel, module: Callable, x: Any) -> Any:
        return self._explained(loaded, x, lambda: rt.call_model(module, x))

    def _explained(self, loaded: LoadedModel, x: Any, run: Callable[[], Any]) -> Any:
        """run(), with a model that fails on its input turned into words and the fix (out of memory passes on)."""
        try:
            return run()
        except ProbeError:
            raise
        except Exception as err:
            if is_out_of_memory(err):
                raise
            raise explain_forward_failure(loaded, x, err) from None

    def _onnx_reference(self, loaded: LoadedModel, x: torch.Tensor) -> Optional[torch.Tensor]:
        """ONNX files have no PyTorch form: their fp32 reference is ONNX Runtime with default options."""
        try:
            import onnxruntime as ort
        except ImportError:
            emit("log", level="warning", message="onnxruntime is not installed: the output check is skipped")
            return None
        session = ort.InferenceSession(loaded.onnx_path, providers=["CPUExecutionProvider"])
        tensors = rt.named_tensors(x)
        graph = [i.name for i in session.get_inputs()]
        feeds = {name: t.numpy() for name, t in tensors if name in graph}
        rest = iter(t for name, t in tensors if name not in graph)
        for name in graph:
            if name not in feeds:
                value = next(rest, None)
                if value is not None:
                    feeds[name] = value.numpy()
        try:
            output = session.run(None, feeds)
        except Exception as err:
            fixed = rt.onnx_fixed_batch(rt.onnx_input_specs(loaded.onnx_path))
            rows = rt.batch_rows(x)[0][1]
            hint = (f"the file fixes its batch axis at {fixed}: measure it with --batch-size {fixed}"
                    if fixed is not None and rows != fixed else "give the per-sample input shape with --input-shape")
            raise ProbeError("bad-input-shape",
                             f"the ONNX model failed on its input ({', '.join(f'{n} {list(t.shape)}' for n, t in tensors)}): "
                             f"{first_line(err)}", hint) from None
        outputs = [torch.from_numpy(o) for o in output]
        return (outputs[0] if len(outputs) == 1 else self.picker(outputs)).float()

    def _configure(self, loaded: LoadedModel, x: Any) -> Tuple[Callable[..., Any], Optional[float], float]:
        """The served model: the runtime helper's optimize(), as an app calls it, reading the
        GT_* variables of this process's environment. Returns it, the seconds of its compile phase (None
        when optimize() made no first call: eager PyTorch), and the seconds of conversion it
        kept in the walk's cache (CACHE_ENV), which the next probe of it will not spend."""
        calibration = self._calibration(loaded)
        clock = _PhaseClock()
        try:
            served = rt.optimize(loaded.onnx_path or loaded.module, x, os.environ, calibration,
                                 log=lambda message, level="info": emit("log", level=level, message=message),
                                 phase=clock.begin, cache_dir=os.environ.get(CACHE_ENV) or None)
        except rt.BackendError as err:
            raise ProbeError(err.code, err.message, err.hint) from None
        except rt.ConfigError as err:
            raise ProbeError(err.code, err.message, err.hint) from None
        finally:
            clock.end()
        cache = getattr(getattr(served, "runner", None), "cache", None)
        kept = sum(clock.seconds.get(p, 0.0) for p in ("export", "quantize")) if cache and not cache["hit"] else 0.0
        return served, clock.seconds.get("compile"), kept

    def _calibration(self, loaded: LoadedModel) -> Optional[List[Any]]:
        """int8 calibrates on the real samples (in batches of the measured size) when given."""
        if self.cfg.options["quantization"] != "int8" or loaded.samples is None:
            return None
        batches = loaded.sample_batches(self.cfg.options["batch_size"])[:MAX_CHECK_BATCHES]
        self.calibrated = {"data": "samples", "batches": len(batches), "rows": len(batches) * self.cfg.options["batch_size"]}
        return batches

    def _warm_up(self, call: Callable, x: Any, first_call_done: bool) -> Tuple[Any, float]:
        """Warm-up iterations (optimize()'s own first call, where inductor compiles, counts as
        one). Returns the last output (checked against the reference) and the seconds spent."""
        remaining = self.cfg.warmup_iterations - (1 if first_call_done else 0)
        started = time.perf_counter()
        with self._phase("warmup"):
            # At least one: its output is the one checked.
            _, output = self._warm_calls(call, x, max(1, remaining), "forward-failed")
        return output, time.perf_counter() - started

    def _warm_calls(self, call: Callable, x: Any, n: int, code: str):
        try:
            return measuring.warm_up(call, x, n)
        except ProbeError:
            raise
        except Exception as err:
            if is_out_of_memory(err):
                raise
            import traceback

            traceback.print_exc(file=sys.stderr)
            what = "compiling the model" if code == "compile-failed" else "running the configured model"
            raise ProbeError(code, f"{what} failed: {type(err).__name__}: {first_line(err)}",
                             "this configuration does not work for this model; the full error is on stderr") from None

    # ------------------------------------------------------------ measurement

    def _measure(self, prepared: Prepared) -> measuring.Measurement:
        progress = self._progress if self.team.leader else None
        with self._phase("measure"):
            return measuring.measure(prepared.call, prepared.input, self.cfg.options["batch_size"], self.cfg.budget_seconds,
                                     self.cfg.target_relative_ci, progress, fixed_window=self.team.world > 1,
                                     rate=prepared.recorder.rate if prepared.recorder else None)

    def _progress(self, samples_per_second: float, iterations: int, elapsed: float,
                  relative_ci: Optional[float]) -> None:
        emit("progress", samplesPerSecond=samples_per_second * self.team.world, iterations=iterations,
             elapsedSeconds=elapsed, relativeCi=relative_ci)

    # ------------------------------------------------------------ reporting

    def _figure(self, prepared: Prepared, measurement: measuring.Measurement) -> dict:
        interval, _ = measurement.throughput()
        return {
            "rank": self.team.rank,
            "cpus": self.team.cpus if self.team.cpus is not None else sorted(os.sched_getaffinity(0)),
            "durations": measurement.durations,
            "interval": interval.to_json(),
            "setupSeconds": prepared.setup_seconds,
            "cachedSeconds": prepared.cached_seconds,
            "warmupSeconds": prepared.warmup_seconds,
            "measureSeconds": measurement.seconds,
            "converged": measurement.converged,
            "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "allocators": mapped_allocators(),
            "generation": prepared.recorder.figures() if prepared.recorder else None,
        }

    def _result(self, figures: List[dict], prepared: Prepared) -> Dict[str, Any]:
        batch = self.cfg.options["batch_size"]
        durations = [d for f in figures for d in f["durations"]]
        if len(figures) == 1:
            throughput = figures[0]["interval"]
            converged = figures[0]["converged"]
        else:
            throughput = {key: sum(f["interval"][key] for f in figures) for key in ("median", "ciLow", "ciHigh")}
            total = measuring.Interval(throughput["median"], throughput["ciLow"], throughput["ciHigh"])
            width = total.relative_half_width
            converged = all(len(f["durations"]) >= 6 for f in figures) and width is not None \
                and width <= self.cfg.target_relative_ci
        result = {
            "samplesPerSecond": throughput,
            "latencyMs": measuring.latency_percentiles(durations),
            "iterations": len(durations),
            "batchSize": batch,
            "setupSeconds": max(f["setupSeconds"] for f in figures),
            "cachedSeconds": max(f["cachedSeconds"] for f in figures),
            **_inductor_cache(),
            "warmupSeconds": max(f["warmupSeconds"] for f in figures),
            "measureSeconds": max(f["measureSeconds"] for f in figures),
            "converged": converged,
            "peakRssBytes": sum(f["peakRssBytes"] for f in figures),
            "allocators": sorted({name for f in figures for name in f["allocators"]}),
            "check": prepared.check,
        }
        generated = [f["generation"] for f in figures if f["generation"] is not None]
        if generated:
            result["latencyMs"] = generation.inter_token_latency(generated)
            prompt = int(prepared.input["input_ids"].shape[1])
            result["generation"] = generation.summary(generated, prompt, prepared.loaded.new_tokens, batch,
                                                      throughput["median"])
            # What one decode step reads (weights as stored, the KV cache): the bandwidth limit's divisor.
            from .limits import decode_bytes
            result["generation"]["bytesPerStep"] = decode_bytes(prepared.loaded.module, prompt,
                                                                prepared.loaded.new_tokens)
        if self.cfg.options["quantization"] == "int8":
            result["calibration"] = self.calibrated or {"data": "random", "batches": rt.CALIBRATION_BATCHES + 1,
                                                        "rows": (rt.CALIBRATION_BATCHES + 1) * batch}
        if len(figures) > 1:
            result["workers"] = [{"rank": f["rank"], "cpus": f["cpus"], "samplesPerSecond": f["interval"]["median"]}
                                 for f in figures]
        return result

    # ------------------------------------------------------------ helpers

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """A phase event when it begins, and again with its duration when it ends."""
        emit("phase", phase=name)
        started = time.perf_counter()
        yield
        emit("phase", phase=name, seconds=time.perf_counter() - started)


def explain_forward_failure(loaded: LoadedModel, x: Any, err: BaseException) -> ProbeError:
    """A model that fails on its input, in words, with where the input came from and the fix."""
    if loaded.kind == "huggingface" and loaded.samples is None:
        what = "prompts for generate()" if loaded.task == "generate" else "token inputs"
        hint = (f"graviton-tune made these {what} from config.json; to call the model your way, write a model file "
                "with build_model() (from_pretrained on the folder) and example_inputs(batch_size) returning the dict "
                "of tensors the model takes, and give it with --model FILE.py"
                + ("" if loaded.task == "generate" else "; a language model is measured generating with --task generate"))
    elif loaded.example_inputs is not None or loaded.samples is not None:
        where = "--samples" if loaded.samples is not None else "example_inputs(batch_size)"
        hint = (f"the inputs come from {where}: return them in the form the model's forward takes "
                "(a tensor, a tuple of positional arguments or a dict of keyword arguments)")
    else:
        hint = ("give the per-sample input shape with --input-shape, e.g. --input-shape 3,224,224 "
                "(without the batch dimension); a model with several inputs defines "
                "example_inputs(batch_size) next to its factory")
    if loaded.kind == "export" and "Guard failed" in str(err):
        hint = ("the exported program has a fixed batch size: export with dynamic_shapes="
                "{'x': {0: torch.export.Dim('batch')}}, or use its batch size; " + hint)
    shown = ", ".join(f"{name} {list(t.shape)} {str(t.dtype).replace('torch.', '')}"
                      for name, t in rt.named_tensors(x))
    model = type(loaded.module).__name__ if loaded.module is not None else "the model"
    return ProbeError("bad-input-shape", f"{model} failed on its input ({shown}): "
                      f"{type(err).__name__}: {first_line(err)}", hint)


def mapped_allocators(maps: str = "/proc/self/maps") -> List[str]:
    """The allocator libraries this process really mapped (an LD_PRELOAD the loader ignored,
    for another architecture, say, is not there): their file names, e.g. ["libmimalloc.so.2"].
    A torch that links mimalloc into libc10 maps no file of it, so it is not listed."""
    try:
        with open(maps, encoding="utf-8", errors="replace") as f:
            paths = {line.split()[-1] for line in f if line.rstrip().endswith(".so") or ".so." in line}
    except OSError:
        return []
    names = {os.path.basename(p) for p in paths if p.startswith("/")}
    return sorted(n for n in names if n.startswith(("libtcmalloc", "libjemalloc", "libmimalloc")))


def _inductor_cache() -> Dict[str, Any]:
    """inductor's compiled graphs read back from its cache (TORCHINDUCTOR_CACHE_DIR, the tool's
    per-machine folder) and compiled afresh in this process: {"inductorCache": {...}}, or
    nothing when inductor did not run (eager, ONNX Runtime, OpenVINO)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return {}
    seen = {key: int(counters["inductor"].get(f"fxgraph_cache_{key}", 0)) for key in ("hit", "miss", "bypass")}
    if not any(seen.values()):
        return {}
    # Frozen weights (the compile recipe's freezing) bypass the graph cache; the kernels it
    # compiles are still kept in, and read back from, the cache folder.
    return {"inductorCache": {"hits": seen["hit"], "misses": seen["miss"], "bypassed": seen["bypass"]}}


def run_probe(cfg: ProbeConfig, identity: Identity, cpus: Optional[List[int]], warnings: List[str]) -> int:
    """Run one probe in this process (one worker of several under torchrun). Returns the exit code."""
    team = Team(identity, cpus)
    try:
        threads = cfg.options["threads"] or (len(cpus) if cpus else None)
        if threads:
            torch.set_num_threads(threads)
        start: Dict[str, Any] = {"pid": os.getpid(), "python": platform.python_version(),
                                 "torch": torch.__version__, "threads": torch.get_num_threads()}
        if identity.distributed:
            start.update(rank=identity.rank, world=identity.world)
        emit("start", **start)
        for message in warnings:
            emit("log", level="warning", message=message)
        if identity.distributed and identity.world != cfg.options["workers"]:
            emit("log", level="warning", message=f"GT_WORKERS is {cfg.options['workers']} but torchrun started "
                                                 f"{identity.world}: measuring {identity.world}")
        if cpus is not None and threads and threads > len(cpus):
            emit("log", level="warning", message=f"{threads} threads on {len(cpus)} CPUs: oversubscribed")
        team.join()
        Probe(cfg, team).run()
        return 0
    except Exception as exc:  # noqa: BLE001 - the protocol promises an error event, never only a traceback
        emit_error(as_probe_error(exc))
        return 2
    finally:
        team.close()
