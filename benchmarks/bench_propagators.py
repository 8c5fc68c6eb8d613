#!/usr/bin/env python
"""Side-by-side benchmark of 2-D acoustic propagators on Marmousi2.

Compares ``fwi_core`` (ours) with the optional peers Deepwave and Devito, and
with a STREAM-like triad that bounds what a memory-bound stencil can reach.
Every case (engine x mode x grid) runs in its own subprocess so that its peak
resident memory can be read on its own (``os.wait4`` rusage of that child);
inside it one untimed warm-up call absorbs JIT compilation and first-touch
allocation, then ``--runs`` timed calls give a median.

The machine is shared, so absolute timings are noisy: read the ratios against
``fwi_core`` measured in the same invocation, not the absolute numbers.

Run ``python benchmarks/bench_propagators.py --help``; see
``docs/benchmarks.md`` for what each column means.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MARMOUSI = ROOT.parent / "shared" / "data" / "marmousi2" / "vp_20m.npy"

SPACE_ORDER = 8
PML = 20
RECORD_SECONDS = 4.0
FREQ_HZ = 8.0  # Ricker peak; irrelevant to throughput, fixed for every engine
SRC_REC_DEPTH_CELLS = 2  # source and receivers two cells below the top edge
BYTES_PER_POINT_STEP = 16  # read u, read+write u_prev, read velocity term (4 B each)
TRIAD_DRAM_ELEMS = 64 * 2**20  # 64 Mi float32 per array: 768 MiB for three, >> L3
DEFAULT_MAX_STORE_GB = 8.0

ENGINES = ("fwi_core", "deepwave", "devito")
MODES = ("forward", "gradient")
GRIDS = {
    # name: (interior shape (nz, nx), spacing in m)
    "20m": ((176, 851), 20.0),
    "10m": ((351, 1701), 10.0),
}
IMPORT_NAME = {"fwi_core": "fwi_core", "deepwave": "deepwave", "devito": "devito"}


# --------------------------------------------------------------------------
# Problem definition (shared by every engine)
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Problem:
    """One benchmark problem: model grid, time axis and acquisition.

    Everything a worker needs is serialisable, so the parent computes it once
    and every engine gets the same ``dt`` and ``nt``.
    """

    grid: str
    dt: float
    nt: int
    dt_source: str
    threads: int
    runs: int
    max_store_gb: float
    deepwave_cfl: str
    strategy: str = "auto"

    @property
    def shape(self) -> tuple[int, int]:
        return GRIDS[self.grid][0]

    @property
    def spacing(self) -> float:
        return GRIDS[self.grid][1]

    @property
    def padded_shape(self) -> tuple[int, int]:
        nz, nx = self.shape
        return nz + 2 * PML, nx + 2 * PML

    @property
    def padded_points(self) -> int:
        pz, px = self.padded_shape
        return pz * px

    @property
    def history_gb(self) -> float:
        """Bytes of a full float32 forward-wavefield history (padded grid)."""
        return self.padded_points * self.nt * 4 / 1e9

    def velocity(self) -> np.ndarray:
        return load_velocity(self.grid)

    def source_index(self) -> tuple[int, int]:
        """(iz, ix) of the single shot: surface centre."""
        return SRC_REC_DEPTH_CELLS, self.shape[1] // 2

    def receiver_indices(self) -> np.ndarray:
        """(iz, ix) of one receiver per interior column, same depth as source."""
        nx = self.shape[1]
        return np.stack([np.full(nx, SRC_REC_DEPTH_CELLS), np.arange(nx)], axis=1)


def load_velocity(grid: str) -> np.ndarray:
    """Marmousi2 P velocity (m/s, float32, (nz, nx)) on the requested grid.

    The 10 m grid is a bilinear resampling of the 20 m file (corners aligned,
    so the physical extent is unchanged and no velocity overshoots the
    original maximum, which would change the CFL step).
    """
    vp = np.load(MARMOUSI).astype(np.float32)
    target, _ = GRIDS[grid]
    if vp.shape != target:
        from scipy.ndimage import zoom

        factors = (target[0] / vp.shape[0], target[1] / vp.shape[1])
        vp = zoom(vp, factors, order=1).astype(np.float32)
    assert vp.shape == target, (vp.shape, target)
    return vp


def fallback_stable_dt(vmax: float, h: float, safety: float = 0.9) -> float:
    """Leap-frog CFL step for the 8th-order Laplacian when fwi_core is absent.

    Von Neumann: dt <= 2 h / (vmax sqrt(ndim * S)), S = max symbol of the
    1-D second-derivative stencil = sum |w_k| for the standard centred weights.
    """
    w = np.array([-205 / 72, 8 / 5, -1 / 5, 8 / 315, -1 / 560])
    s = abs(w[0]) + 2 * np.abs(w[1:]).sum()
    return float(safety * 2 * h / (vmax * math.sqrt(2 * s)))


def ricker(freq: float, dt: float, nt: int) -> np.ndarray:
    """Ricker wavelet for the peers (delay 1.5 / freq), float32."""
    t = np.arange(nt) * dt - 1.5 / freq
    a = (np.pi * freq * t) ** 2
    return ((1 - 2 * a) * np.exp(-a)).astype(np.float32)


def ours_available() -> bool:
    """True once fwi_core exposes the engine API (forward and gradient)."""
    sys.path.insert(0, str(ROOT))
    try:
        import fwi_core as fwi
    except Exception:
        return False
    return all(hasattr(fwi, n) for n in ("as_model", "forward", "gradient", "stable_dt"))


def make_problem(grid: str, args: argparse.Namespace) -> Problem:
    """Time axis from fwi_core's CFL rule (or the fallback), nt ~ 4 s / dt."""
    vp = load_velocity(grid)
    h = GRIDS[grid][1]
    if ours_available():
        import fwi_core as fwi

        dt = float(fwi.stable_dt(fwi.as_model(vp, spacing=(h, h)), space_order=SPACE_ORDER))
        src = "fwi_core.stable_dt"
    else:
        dt = fallback_stable_dt(float(vp.max()), h)
        src = "fallback CFL (fwi_core absent)"
    nt = args.steps if args.steps else int(round(RECORD_SECONDS / dt))
    return Problem(grid=grid, dt=dt, nt=nt, dt_source=src, threads=args.threads,
                   runs=args.runs, max_store_gb=args.max_store_gb,
                   deepwave_cfl=args.deepwave_cfl, strategy=args.strategy)


# --------------------------------------------------------------------------
# Engine adapters: each one builds its inputs once, then exposes
# forward() and gradient() closures that are what gets timed.
# --------------------------------------------------------------------------


class Engine:
    """Adapter interface. ``info`` collects engine-specific facts to report."""

    name = ""

    def __init__(self, p: Problem):
        self.p = p
        self.info: dict = {}
        self.notes: list[str] = []

    def forward(self):  # pragma: no cover - interface
        raise NotImplementedError

    def prepare_gradient(self) -> None:
        """Untimed: build observed data (zeros, so the residual is the data)."""

    def gradient(self):  # pragma: no cover - interface
        raise NotImplementedError


class FwiCore(Engine):
    """fwi_core (ours), through its public API."""

    name = "fwi_core"

    def __init__(self, p: Problem):
        super().__init__(p)
        import numba

        import fwi_core as fwi

        numba.set_num_threads(p.threads)
        self.fwi = fwi
        h = p.spacing
        self.vp = fwi.as_model(p.velocity(), spacing=(h, h))
        iz, ix = p.source_index()
        self.acq = fwi.Acquisition(sources=np.array([[iz * h, ix * h]], dtype=float),
                                   receivers=p.receiver_indices().astype(float) * h)
        self.w = fwi.ricker(freq=FREQ_HZ, dt=p.dt, nt=p.nt)
        self.kw = dict(dt=p.dt, nt=p.nt, space_order=SPACE_ORDER, pml_width=PML)
        self.d_obs = None

    def forward(self):
        d = self.fwi.forward(self.vp, self.acq, self.w, **self.kw)
        self._threading_layer()
        return d

    def _threading_layer(self) -> None:
        import numba

        try:
            self.info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel region has run
            pass

    def prepare_gradient(self) -> None:
        self.d_obs = self.forward() * 0

    def gradient(self):
        *out, info = self.fwi.gradient(self.vp, self.acq, self.w, self.d_obs,
                                       return_info=True, strategy=self.p.strategy, **self.kw)
        self.info.update(strategy=info["strategy"], snapshots=int(info["snapshots"]),
                         recompute_factor=float(info["recompute_factor"]))
        self._threading_layer()
        return out


class Deepwave(Engine):
    """deepwave.scalar (compiled C/OpenMP backend), gradient by autograd."""

    name = "deepwave"

    def __init__(self, p: Problem):
        super().__init__(p)
        import deepwave
        import torch

        torch.set_num_threads(p.threads)
        self.torch, self.deepwave = torch, deepwave
        vp = p.velocity()
        self.v = torch.from_numpy(vp)
        w = torch.from_numpy(ricker(FREQ_HZ, p.dt, p.nt))
        iz, ix = p.source_index()
        self.kw = dict(
            grid_spacing=p.spacing, dt=p.dt,
            source_amplitudes=w.reshape(1, 1, -1),
            source_locations=torch.tensor([[[iz, ix]]]),
            receiver_locations=torch.from_numpy(p.receiver_indices()).long()[None],
            accuracy=SPACE_ORDER, pml_width=PML, pml_freq=FREQ_HZ,
            max_vel=float(vp.max()), nt=p.nt,
        )
        courant = self._courant_number(float(vp.max()))
        if courant is not None:
            self.kw["courant_number"] = courant
        self.d_obs = None

    def _courant_number(self, vmax: float):
        """In 'match' mode, the Courant number of our dt (so no time upsampling).

        Deepwave's default (0.6) is below what a CFL-derived dt usually uses,
        in which case it silently takes ``step_ratio`` inner steps per sample.
        """
        if self.p.deepwave_cfl != "match":
            self.notes.append("deepwave's own CFL (courant 0.6)")
            return None
        ours = self.p.dt * vmax * math.sqrt(2) / self.p.spacing
        crit = self.deepwave.discretisation.critical_courant_number(
            SPACE_ORDER, propagator="scalar")
        if ours * (1 + 1e-9) >= crit:
            self.notes.append(f"our Courant {ours:.3f} > deepwave critical {crit:.3f}: own CFL")
            return None
        return ours * (1 + 1e-9)

    def _run(self, v):
        out = self.deepwave.scalar(v, **self.kw)
        ratio = int(out.info.step_ratio)
        self.info.update(step_ratio=ratio, inner_steps=ratio * self.p.nt,
                         courant=float(out.info.courant_number))
        return out.receiver_amplitudes

    def forward(self):
        with self.torch.no_grad():
            return self._run(self.v)

    def prepare_gradient(self) -> None:
        self.d_obs = self.forward().clone().zero_()
        segments = math.ceil(self.p.history_gb / self.p.max_store_gb)
        if segments > 1:
            self.kw["checkpoint_segments"] = segments
            self.notes.append(f"checkpoint_segments={segments} (history "
                              f"{self.p.history_gb:.1f} GB > {self.p.max_store_gb:g} GB)")

    def gradient(self):
        v = self.v.clone().requires_grad_()
        d = self._run(v)
        loss = 0.5 * ((d - self.d_obs) ** 2).sum()
        loss.backward()
        return loss.item(), v.grad


class Devito(Engine):
    """Devito's own acoustic example operators (examples.seismic, shipped in
    the wheel): OT2 stencil, sponge ('damp') layer of nbl cells, forward with
    save=True for the gradient (whole history in memory, as the example does).

    Devito works in km/s, m and ms.
    """

    name = "devito"

    def __init__(self, p: Problem):
        super().__init__(p)
        from examples.seismic import AcquisitionGeometry, Model
        from examples.seismic.acoustic import AcousticWaveSolver

        vp = p.velocity()
        nz, nx = p.shape
        h, dt_ms = p.spacing, p.dt * 1e3
        self.model = Model(vp=vp.T / 1000.0, origin=(0.0, 0.0), spacing=(h, h),
                           shape=(nx, nz), space_order=SPACE_ORDER, nbl=PML,
                           bcs="damp", dt=dt_ms)
        iz, ix = p.source_index()
        rec = p.receiver_indices()[:, ::-1] * h  # (x, z) in m
        # stop slightly short of (nt-1) dt so TimeAxis rounds to exactly nt
        geom = AcquisitionGeometry(self.model, rec, np.array([[ix * h, iz * h]]),
                                   t0=0.0, tn=(p.nt - 1.01) * dt_ms,
                                   f0=FREQ_HZ / 1000.0, src_type="Ricker")
        assert geom.nt == p.nt, (geom.nt, p.nt)
        self.solver = AcousticWaveSolver(self.model, geom, space_order=SPACE_ORDER)
        self.dt_ms = dt_ms

    def _record(self, key: str, summary) -> None:
        """Keep Devito's own operator time and GPts/s of every call."""
        g = summary.globals.get("fdlike")
        if g is not None and g.gpointss:
            self.info.setdefault(key, []).append({"op_time_s": g.time, "gpts_s": g.gpointss})

    def forward(self):
        rec, _, summary = self.solver.forward(save=False, dt=self.dt_ms)
        self._record("devito_forward_op", summary)
        return rec

    def prepare_gradient(self) -> None:
        if self.p.history_gb > self.p.max_store_gb:
            raise SkipCase(f"full forward history {self.p.history_gb:.1f} GB > "
                           f"--max-store-gb {self.p.max_store_gb:g}")

    def gradient(self):
        rec, u, s_fwd = self.solver.forward(save=True, dt=self.dt_ms)
        # residual = synthetic - observed, observed = 0
        grad, s_grad = self.solver.jacobian_adjoint(rec, u, dt=self.dt_ms)
        self._record("devito_forward_op", s_fwd)
        self._record("devito_gradient_op", s_grad)
        return grad


ADAPTERS = {cls.name: cls for cls in (FwiCore, Deepwave, Devito)}


class SkipCase(Exception):
    """Raised by an adapter when a case cannot run within the set limits."""


# --------------------------------------------------------------------------
# Worker side (runs inside the per-case subprocess)
# --------------------------------------------------------------------------


def rss_mb(field: str = "VmRSS") -> float:
    """Current (VmRSS) or peak (VmHWM) resident memory of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_case(engine: str, mode: str, p: Problem) -> dict:
    """Warm-up call (reported as first-call time), then ``p.runs`` timed calls."""
    sys.path.insert(0, str(ROOT))
    eng = ADAPTERS[engine](p)
    if mode == "gradient":
        eng.prepare_gradient()
    call = eng.forward if mode == "forward" else eng.gradient
    base = rss_mb()
    first = timed(call)
    eng.info.clear()  # keep what the timed calls report, not the warm-up's
    times = [timed(call) for _ in range(p.runs)]
    return {"first_call_s": first, "times_s": times, "base_rss_mb": base,
            "info": eng.info, "notes": eng.notes}


def run_triad(sizes: list[int], threads: int) -> dict:
    """STREAM triad a = b + s*c (numba prange), best GB/s of several trials.

    Counts 12 bytes per element (two reads, one write; no write-allocate), as
    STREAM does. ``sizes`` are extra element counts to measure (cache-resident
    working sets); the DRAM figure uses TRIAD_DRAM_ELEMS.
    """
    import numba

    numba.set_num_threads(threads)

    @numba.njit(parallel=True, fastmath=True)
    def triad(a, b, c, s, reps):
        for _ in range(reps):
            for i in numba.prange(a.size):
                a[i] = b[i] + s * c[i]

    out = {}
    for n in [TRIAD_DRAM_ELEMS, *sizes]:
        a = np.zeros(n, np.float32)
        b = np.ones(n, np.float32)
        c = np.full(n, 2.0, np.float32)
        triad(a, b, c, np.float32(3.0), 1)  # compile + first touch
        reps = max(1, int(2e8 // n))  # ~0.05 s or more per trial
        best = min(timed(lambda: triad(a, b, c, np.float32(3.0), reps)) for _ in range(7))
        out[str(n)] = 12 * n * reps / best / 1e9
    return out


def worker_main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    try:
        if spec["engine"] == "stream":
            result = {"gbs": run_triad(spec["sizes"], spec["threads"])}
        else:
            p = Problem(**spec["problem"])
            result = run_case(spec["engine"], spec["mode"], p)
        result["status"] = "ok"
    except SkipCase as e:
        result = {"status": "skipped", "reason": str(e)}
    result["peak_rss_mb_self"] = rss_mb("VmHWM")
    Path(out_path).write_text(json.dumps(result))


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env.update(DEVITO_LANGUAGE="openmp", DEVITO_PROFILING="advanced",
               DEVITO_LOGGING="WARNING")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def busy_cpu_seconds() -> float:
    """Machine-wide busy CPU time (all processes) from /proc/stat, seconds."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, threshold: float = 0.3, window: float = 2.0) -> float:
    """Block until other processes use < ``threshold`` cores (averaged over
    ``window`` s) or ``max_wait`` s have passed; return the last load seen."""
    deadline = time.monotonic() + max_wait
    while True:
        b0 = busy_cpu_seconds()
        time.sleep(window)
        load = (busy_cpu_seconds() - b0) / window
        if load < threshold or time.monotonic() >= deadline:
            return load


def spawn(spec: dict, threads: int, timeout: float, quiet_wait: float = 0.0) -> dict:
    """Run one case in a fresh interpreter; return its result + peak RSS.

    The peak RSS is the child's own ``ru_maxrss`` from ``os.wait4`` (so it is
    per case, unlike RUSAGE_CHILDREN, which is a max over all children).
    ``other_load`` is the average number of cores that *other* processes kept
    busy meanwhile (machine busy time minus the child's CPU time, over wall
    time): a direct measure of how noisy that case's timings are.
    """
    if quiet_wait > 0:
        wait_for_quiet(quiet_wait)
    t0, busy0 = time.monotonic(), busy_cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="bench_prop_") as tmp:
        spec_path, out_path, log_path = (Path(tmp) / n for n in ("spec.json", "out.json", "log"))
        spec_path.write_text(json.dumps(spec))
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker",
                 str(spec_path), str(out_path)],
                stdout=log, stderr=subprocess.STDOUT, env=child_env(threads))
            deadline = time.monotonic() + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.2)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall, busy = time.monotonic() - t0, busy_cpu_seconds() - busy0
        if out_path.exists():
            result = json.loads(out_path.read_text())
        else:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            result = {"status": "failed", "reason": " | ".join(tail)[-300:]
                      or f"exit {proc.returncode}"}
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["other_load"] = max(0.0, (busy - usage.ru_utime - usage.ru_stime) / wall)
    return result


def available(engine: str) -> tuple[bool, str]:
    if engine == "fwi_core":
        return (True, "") if ours_available() else (False, "fwi_core.forward not importable yet")
    if importlib.util.find_spec(IMPORT_NAME[engine]) is None:
        return False, f"{engine} not installed (pip install -r benchmarks/requirements-peers.txt)"
    return True, ""


def merge_rounds(results: list[dict]) -> dict:
    """Pool the worker results of one case over ``--rounds`` subprocesses:
    all timed runs together, median first call, max peak RSS, mean load."""
    ok = [r for r in results if r["status"] == "ok"]
    if not ok:
        return results[-1]
    merged = dict(ok[-1])
    merged["info"] = {k: ([x for r in ok for x in r["info"].get(k, [])] if isinstance(v, list)
                          else v) for k, v in ok[-1]["info"].items()}
    merged.update(
        times_s=[t for r in ok for t in r["times_s"]],
        first_call_s=statistics.median(r["first_call_s"] for r in ok),
        peak_rss_mb=max(r["peak_rss_mb"] for r in ok),
        other_load=statistics.fmean(r["other_load"] for r in ok),
        other_load_rounds=[r["other_load"] for r in ok],
        rounds=len(ok))
    return merged


def summarise(engine: str, mode: str, p: Problem, r: dict) -> dict:
    """Turn a worker result into a table row (medians, Mpt/s)."""
    row = {"grid": p.grid, "engine": engine, "mode": mode, "status": r["status"],
           "notes": list(r.get("notes", [])), "peak_rss_mb": r.get("peak_rss_mb"),
           "other_load": r.get("other_load"), "other_load_rounds": r.get("other_load_rounds")}
    if r["status"] != "ok":
        row["notes"].append(r.get("reason", ""))
        return row
    t = r["times_s"]
    med = statistics.median(t)
    row.update(median_s=med, min_s=min(t), max_s=max(t), times_s=t,
               first_call_s=r["first_call_s"], base_rss_mb=r["base_rss_mb"],
               mpts=p.padded_points * p.nt / med / 1e6,
               best_mpts=p.padded_points * p.nt / min(t) / 1e6, info=r.get("info", {}))
    info = row["info"]
    if info.get("step_ratio", 1) > 1:
        row["notes"].append(f"inner steps {info['inner_steps']} (step_ratio "
                            f"{info['step_ratio']}); Mpt/s counted with nt={p.nt}")
    elif "step_ratio" in info:
        row["notes"].append(f"no time upsampling (courant {info['courant']:.3f})")
    for key, label in (("devito_forward_op", "fwd op"), ("devito_gradient_op", "adj+img op")):
        if key in info:  # one entry per timed call
            op = info[key]
            row["notes"].append(
                f"devito {label} median {statistics.median(o['op_time_s'] for o in op):.2f} s, "
                f"{statistics.median(o['gpts_s'] for o in op) * 1e3:.0f} Mpt/s (own summary)")
    if engine == "fwi_core":
        # vs the fastest run: the median may itself be inflated by other users
        row["notes"].append(f"1st call incl. JIT; compile ~ {r['first_call_s'] - min(t):.1f} s; "
                            f"numba layer {info.get('numba_threading_layer', '?')}")
        if info.get("strategy") == "boundary":
            row["notes"].append(f"boundary records, core rebuilt backwards (x{info['recompute_factor']:.2f} "
                                f"steps; default memory budget)")
        elif "snapshots" in info:
            row["notes"].append(f"checkpointing: {info['snapshots']} snapshots, recompute "
                                f"x{info['recompute_factor']:.2f} (default memory budget)")
    return row


def bound_rows(p: Problem, triad: dict, ours_fwd: dict | None) -> list[dict]:
    """Rows for the bandwidth bounds implied by the triad measurements."""
    rows = []
    ws_mb = 3 * p.padded_points * 4 / 2**20
    for n, label in ((TRIAD_DRAM_ELEMS, f"triad DRAM ({TRIAD_DRAM_ELEMS >> 20}M f32 x3)"),
                     (p.padded_points, f"triad at working set ({ws_mb:.1f} MiB)")):
        gbs = triad[str(n)]
        bound = gbs * 1e9 / BYTES_PER_POINT_STEP / 1e6
        note = f"{gbs:.1f} GB/s / {BYTES_PER_POINT_STEP} B/pt/step"
        if ours_fwd and ours_fwd.get("mpts"):
            note += f"; fwi_core fwd reaches {100 * ours_fwd['mpts'] / bound:.3g}% of it"
        rows.append({"grid": p.grid, "engine": "bound: " + label, "mode": "forward",
                     "status": "ok", "mpts": bound, "gbs": gbs, "notes": [note]})
    return rows


def add_ratios(rows: list[dict]) -> None:
    """Mpt/s and peak-RSS ratios against fwi_core, same grid and mode."""
    ref = {(r["grid"], r["mode"]): r for r in rows
           if r["engine"] == "fwi_core" and r.get("mpts")}
    for r in rows:
        o = ref.get((r["grid"], r["mode"]))
        if o and r.get("mpts"):
            r["speed_vs_ours"] = r["mpts"] / o["mpts"]
            if r.get("peak_rss_mb") and o.get("peak_rss_mb"):
                r["rss_vs_ours"] = r["peak_rss_mb"] / o["peak_rss_mb"]


def fmt(x, spec: str) -> str:
    return "" if x is None else format(x, spec)


def markdown_table(rows: list[dict]) -> str:
    head = ("| grid | engine | mode | Mpt/s | x fwi_core | best Mpt/s | wall s (median) | min-max s "
            "| 1st call s | peak RSS MB | RSS x fwi_core | other load | notes |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        spread = (f"{r['min_s']:.2f}-{r['max_s']:.2f}" if "min_s" in r else "")
        mpts = fmt(r.get("mpts"), ".0f") if r["status"] == "ok" else r["status"]
        lines.append("| " + " | ".join([
            r["grid"], r["engine"], r["mode"], mpts,
            fmt(r.get("speed_vs_ours"), ".2f"), fmt(r.get("best_mpts"), ".0f"),
            fmt(r.get("median_s"), ".2f"), spread,
            fmt(r.get("first_call_s"), ".2f"), fmt(r.get("peak_rss_mb"), ".0f"),
            fmt(r.get("rss_vs_ours"), ".2f"), fmt(r.get("other_load"), ".2f"),
            "; ".join(n for n in r["notes"] if n),
        ]) + " |")
    return "\n".join(lines)


def fwi_core_revision() -> str:
    """Commit of the working tree being measured, flagged if fwi_core/ is dirty."""
    def git(*a):
        return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True,
                              text=True).stdout.strip()
    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "fwi_core")
    return sha + (" + uncommitted fwi_core changes" if dirty else "")


def header(problems: list[Problem], args) -> str:
    lines = [f"# Propagator benchmark ({platform.node()}, {os.cpu_count()} CPUs, "
             f"{args.threads} threads, {time.strftime('%Y-%m-%d %H:%M')})", "",
             f"- fwi_core at {fwi_core_revision()}"]
    for p in problems:
        pz, px = p.padded_shape
        lines.append(
            f"- grid {p.grid}: interior {p.shape[0]}x{p.shape[1]}, padded {pz}x{px} "
            f"(PML {PML}) = {p.padded_points} pts; order {SPACE_ORDER}; dt={p.dt * 1e3:.4f} ms "
            f"({p.dt_source}); nt={p.nt} ({p.nt * p.dt:.2f} s); 1 shot, "
            f"{p.shape[1]} receivers; median of {p.runs} runs after 1 warm-up"
            + (f", x {args.rounds} interleaved rounds" if args.rounds > 1 else ""))
    lines += [
        "- Mpt/s = padded points x nt / median wall s (gradient: forward + adjoint + "
        "imaging wall time); x fwi_core = Mpt/s ratio (>1: faster than ours); "
        "best Mpt/s = from the fastest run (least disturbed by other users)",
        f"- bandwidth bound assumes {BYTES_PER_POINT_STEP} B/point/step (read u, "
        "read+write u_prev, read velocity term, float32); triad counts 12 B/element",
        "- peak RSS: whole subprocess (imports, warm-up and runs included); other load: "
        "mean cores busy with other processes during that case (noise indicator, "
        f"out of {os.cpu_count()})", ""]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per case (median)")
    ap.add_argument("--grid", choices=["20m", "10m", "both"], default="20m")
    ap.add_argument("--engines", default="fwi_core,deepwave,devito,stream",
                    help="comma list from fwi_core,deepwave,devito,stream")
    ap.add_argument("--modes", default="forward,gradient", help="comma list")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat every case in this many interleaved subprocess rounds "
                    "(each: 1 warm-up + --runs timed); medians pool all rounds")
    ap.add_argument("--steps", type=int, default=None, help="override nt (quick checks)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: --runs 1 --steps 200 unless given")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--strategy", choices=["auto", "boundary", "checkpoint"], default="auto",
                    help="fwi_core gradient: how the reverse sweep gets the forward field")
    ap.add_argument("--max-store-gb", type=float, default=DEFAULT_MAX_STORE_GB,
                    help="peers that keep the whole forward history: above this "
                    "deepwave checkpoints, devito's gradient is skipped")
    ap.add_argument("--deepwave-cfl", choices=["match", "own"], default="match",
                    help="match: run deepwave at our dt (no inner upsampling); "
                    "own: deepwave's default Courant 0.6 (may upsample time)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per case")
    ap.add_argument("--quiet-wait", type=float, default=0.0,
                    help="before each case wait up to this many seconds for the "
                    "other processes to use < 0.3 cores (0: don't wait)")
    ap.add_argument("--json", type=Path, default=None, help="save raw figures here")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps = args.steps or 200
        if "--runs" not in (argv if argv is not None else sys.argv):
            args.runs = 1
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(wanted) - set(ENGINES) - {"stream"} | set(modes) - set(MODES)
    if unknown:
        sys.exit(f"unknown engine/mode: {sorted(unknown)}")
    grids = ["20m", "10m"] if args.grid == "both" else [args.grid]
    problems = [make_problem(g, args) for g in grids]

    triad = None
    if "stream" in wanted:
        print("running triad ...", file=sys.stderr, flush=True)
        res = spawn({"engine": "stream", "threads": args.threads,
                     "sizes": [p.padded_points for p in problems]},
                    args.threads, args.timeout, args.quiet_wait)
        triad = res.get("gbs")

    engines = [e for e in ENGINES if e in wanted]
    skipped = {e: why for e in engines for ok, why in [available(e)] if not ok}
    cases = [(p, e, m) for p in problems for e in engines if e not in skipped for m in modes]
    # rounds are interleaved (every case once, then again) so that a burst of
    # load from other users hits all engines alike rather than one of them
    results: dict[tuple, list[dict]] = {}
    for k in range(args.rounds):
        for p, engine, mode in cases:
            print(f"round {k + 1}/{args.rounds}: {p.grid} {engine} {mode} (nt={p.nt}) ...",
                  file=sys.stderr, flush=True)
            spec = {"engine": engine, "mode": mode, "problem": dataclasses.asdict(p)}
            results.setdefault((p.grid, engine, mode), []).append(
                spawn(spec, args.threads, args.timeout, args.quiet_wait))

    rows = []
    for p in problems:
        grid_rows = []
        for engine in engines:
            for mode in modes:
                if engine in skipped:
                    grid_rows.append({"grid": p.grid, "engine": engine, "mode": mode,
                                      "status": "skipped", "notes": [skipped[engine]]})
                else:
                    res = merge_rounds(results[(p.grid, engine, mode)])
                    grid_rows.append(summarise(engine, mode, p, res))
        if triad:
            ours_fwd = next((r for r in grid_rows if r["engine"] == "fwi_core"
                             and r["mode"] == "forward"), None)
            grid_rows += bound_rows(p, triad, ours_fwd)
        rows += grid_rows
    add_ratios(rows)

    print(header(problems, args))
    print(markdown_table(rows))
    if args.json:
        args.json.write_text(json.dumps({
            "problems": [dataclasses.asdict(p) | {"padded_shape": p.padded_shape}
                         for p in problems],
            "triad_gbs": triad, "rows": rows, "argv": sys.argv[1:]}, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
