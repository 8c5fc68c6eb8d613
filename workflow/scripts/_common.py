"""Glue shared by the rule scripts: path, warnings, threads, logging, provenance."""
import atexit
import json
import logging
import os
import resource
import signal
import sys
import time

_T0 = time.perf_counter()
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from fwi_core import artifacts  # noqa: E402  (also filters the zarr warnings)
from fwi_core.config import ConfigError, config_hash  # noqa: E402

#: Errors that are the user's to fix (a config key, an input file, a damaged
#: artifact): the job log shows their message, not a traceback.
USER_ERRORS = (ConfigError, artifacts.DamagedArtifactError)


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): the
    job's start-up (interpreter, Snakemake's script preamble, imports) when
    called as the script begins."""
    try:
        with open("/proc/self/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        return up - start / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Job:
    """What a script needs from its Snakemake job: spec, logger, provenance attrs."""

    def __init__(self, smk, stage):
        self.smk = smk
        self.stage = stage
        self._t_last = self.t_start = _T0
        self.spec = json.loads(smk.params.spec) if "spec" in smk.params.keys() else None
        # wildcards, or params of the same names for rules made per run and band
        wc = {**{k: smk.params[k] for k in ("run", "b") if k in smk.params.keys()}, **dict(smk.wildcards.items())}
        self.run = wc.get("run")
        self.band = int(wc["b"]) if "b" in wc else None
        self.iteration = int(wc["i"]) if "i" in wc else None
        self.shots = list(range(int(wc["s0"]), int(wc["s1"]) + 1)) if "s0" in wc else None
        threads = max(1, int(getattr(smk, "threads", 1)))
        self.threads = threads  # the rule's `threads:` (execution.threads), passed to the engine
        try:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        except Exception:
            pass
        self.log = logging.getLogger(stage)
        self.log.setLevel(logging.INFO)
        job = self

        class _Where(logging.Formatter):  # the prefix follows job.band / job.iteration (fused jobs)
            def format(self, record):
                record.where = job.where()
                return super().format(record)

        fmt = _Where("%(asctime)s [%(where)s] %(message)s", "%H:%M:%S")
        handlers = [logging.StreamHandler(sys.stderr)]
        if smk.log:
            os.makedirs(os.path.dirname(str(smk.log[0])) or ".", exist_ok=True)
            handlers.append(logging.FileHandler(str(smk.log[0]), mode="w"))
        for h in handlers:
            h.setFormatter(fmt)
            self.log.addHandler(h)
        sys.excepthook = self._excepthook
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._interrupted)
        age = process_age()
        if age is not None:
            self.log.info(f"started in {age:.2f} s (interpreter, Snakemake preamble, imports)")
        self._cold = None   # time the kernels started compiling, on a cold numba cache
        atexit.register(self._finished)

    def _finished(self) -> None:
        """The job's last log line: its wall time and peak resident memory
        (this process's, what a cluster's ``mem_mb`` must cover; read the
        figures of a run with ``grep -rh "peak memory" results/logs/``)."""
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6   # KiB on Linux
        self.log.info(f"ended after {time.perf_counter() - _T0:.1f} s; peak memory {peak:.0f} MB (resident)")

    def uses_engine(self, ndim: int) -> None:
        """Say so when this job may compile wave kernels: numba's cache lacks
        some of the time loops (a fresh install, or a gradient strategy no
        earlier job used), and the first engine call is otherwise silent for
        up to a minute. The line after the first result says how long it took
        (a few seconds when the loops this job uses were cached after all)."""
        from fwi_core.engine import backends

        if not backends.cached(ndim):
            self._cold = time.perf_counter()
            self.log.info(f"compiling the {ndim}-D wave kernels this job needs and numba's cache lacks "
                          f"(first use only, up to about a minute; later jobs load them from the cache)")

    def band_iterations(self) -> list[int]:
        """Iterations of every band of the job's run, for the progress line:
        from the workflow's config (validated by the Snakefile; resolved here
        without reading any file). Not a rule param: params are a rerun
        trigger, so one more iteration in the last band would redo every job
        that carried the counts."""
        from fwi_core.config import resolve_runs

        return [int(b["iterations"]) for b in resolve_runs(dict(self.smk.config))[self.run]["bands"]]

    def where(self) -> str:
        """The log prefix: stage, run, band, iteration, shots."""
        parts = [self.stage] + [f"{k}={v}" for k, v in (("run", self.run), ("band", self.band),
                                                        ("iter", self.iteration)) if v is not None]
        if self.shots:
            parts.append(f"shots={self.shots[0]}-{self.shots[-1]}")
        return " ".join(parts)

    def _excepthook(self, kind, err, tb):
        if issubclass(kind, USER_ERRORS):
            self.log.error(f"stopped: {err}")
            return
        sys.__excepthook__(kind, err, tb)

    def _interrupted(self, signum, frame):
        """Ctrl-C / SIGTERM: stop without a traceback. Artifacts are written
        atomically, so nothing half-written is left; Snakemake reruns this job."""
        self.log.warning(f"interrupted ({signal.Signals(signum).name}): stopping; this job's outputs are "
                         f"incomplete and a later `snakemake` run redoes it")
        raise SystemExit(128 + signum)  # `finally` blocks remove temporary stores

    def attrs(self, **extra):
        """Provenance; ``elapsed_s`` is the compute since this job's previous
        artifact (or its start), so the sum over artifacts is the jobs' time."""
        now = time.perf_counter()
        elapsed, self._t_last = now - self._t_last, now
        return artifacts.provenance(
            self.stage, run=self.run, band=self.band, iteration=self.iteration,
            config_hash=config_hash(self.spec) if self.spec is not None else None,
            elapsed_s=round(elapsed, 3), **extra)

    def write(self, obj, path, shown=None, **extra):
        """Write an artifact; the log names ``shown`` (where it will end up) if given."""
        artifacts.write(obj, path, self.attrs(**extra))
        self.log.info(f"wrote {shown or path} ({time.perf_counter() - _T0:.1f} s)")
        if self._cold is not None:
            self.log.info(f"kernels compiled and first result computed in {time.perf_counter() - self._cold:.1f} s")
            self._cold = None


def acquisition(path, shots=None):
    acq = artifacts.acquisition_from_dataset(artifacts.open_dataset(path))
    return acq


def band_data(path):
    ds = artifacts.open_dataset(path)
    return ds["data"], ds["wavelet"]
