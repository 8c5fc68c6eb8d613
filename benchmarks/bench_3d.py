"""3-D forward modelling and gradient: fwi_core against Devito on the same
grid, in one script.

Both engines model one shot of an order-8 acoustic wave on an n^3 model (a
smooth random medium, 10 m cells) with a 20-cell absorbing layer, for nt
steps at the same dt, with the same number of threads. Devito runs its own
acoustic example operators (examples.seismic, shipped in its wheel: sponge
layer, gradient from a saved forward history); fwi_core runs fwi.forward and
fwi.gradient (CPML; the gradient rebuilds the forward field from its
boundary or recomputes it from checkpoints within ``--budget`` bytes).

Every (engine, mode) pair runs in its own worker process, so that its peak
resident memory (``ru_maxrss``, compilation included) is its own; the
parent alternates the timed runs between the workers (the same machine
state for all) and reports medians and bests. The first call of each
worker (compilation, first touch) is not timed.

Throughput is million grid-point updates per second: (n + 2 * 20)^3 points
x nt steps / seconds, for both engines (the absorbing layer is computed by
both). The machine's bandwidth bound is measured first: a STREAM triad
with the same threads, divided by the 16 bytes a point of fwi_core's
in-place step moves at least (read u^n, u^{n-1} and s, write u^{n+1}).

    pip install --no-deps devito==4.8.23   # plus its runtime deps, benchmarks/requirements-peers.txt
    python benchmarks/bench_3d.py --n 150 --nt 500 --runs 3

``--target N NT BUDGET`` instead runs fwi_core alone (forward and gradient,
one run each) on an N^3 model for NT steps with a gradient memory budget
of BUDGET bytes, and prints the gradient/forward time ratio, the peak
memory, the strategy and what storing the whole forward field would need.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import time

import numpy as np

PML, ORDER, H, F0 = 20, 8, 10.0, 10.0
BYTES_PER_POINT = 16          # in-place step: read u^n, u^{n-1}, s; write u^{n+1} (4 B each)


def model(n: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    v = gaussian_filter(np.random.default_rng(0).random((n, n, n)), 4)
    return (2000.0 + 1500.0 * (v - v.min()) / (v.max() - v.min())).astype(np.float32)


def time_step(nt: int) -> float:
    """The dt both engines use: well inside both CFL limits at order 8 (s)."""
    return 0.5 * 0.8 * H / (3500.0 * np.sqrt(3))


class Ours:
    name = "fwi_core"

    def __init__(self, v, dt, nt, threads, budget):
        import warnings

        import fwi_core as fwi

        warnings.simplefilter("ignore")          # short runs: the dispersion warning is about the wavelet
        self.fwi, self.nt, self.dt, self.budget = fwi, nt, dt, budget
        n = v.shape[0]
        self.vp = fwi.as_model(v, H)
        c = H * (n - 1) / 2
        self.acq = fwi.Acquisition(np.array([[20.0, c, c]]),
                                   np.array([[20.0, c, x] for x in np.linspace(0, H * (n - 1), 50)]))
        self.w = fwi.ricker(F0, dt, nt)
        self.kw = dict(space_order=ORDER, pml_width=PML, vmax=3500.0, freq=F0, num_threads=threads)
        self.obs = None
        self.info = None

    def forward(self):
        return self.fwi.forward(self.vp, self.acq, self.w, self.dt, self.nt, **self.kw)

    def prepare(self, mode: str) -> None:
        """Untimed set-up of ``mode``: the gradient's "observed" data."""
        if mode == "gradient" and self.obs is None:
            self.obs = np.zeros_like(self.forward().values) + 1e-3

    def gradient(self):
        _, g, info = self.fwi.gradient(self.vp, self.acq, self.w, self.obs, self.dt, self.nt,
                                       memory_budget=self.budget, return_info=True, **self.kw)
        self.info = {k: info[k] for k in ("strategy", "snapshots", "recompute_factor", "snapshot_bytes",
                                          "boundary_bytes")}
        return g


class Devito:
    name = "devito"

    def __init__(self, v, dt, nt, threads, budget):
        from examples.seismic import AcquisitionGeometry, Model
        from examples.seismic.acoustic import AcousticWaveSolver

        n = v.shape[0]
        c = H * (n - 1) / 2
        # Devito's dims are (x, y, z), velocities in km/s, times in ms
        self.model = Model(vp=np.transpose(v, (2, 1, 0)) / 1000.0, origin=(0.0, 0.0, 0.0), spacing=(H, H, H),
                           shape=(n, n, n), space_order=ORDER, nbl=PML, bcs="damp", dt=dt * 1e3)
        rec = np.array([[x, c, 20.0] for x in np.linspace(0, H * (n - 1), 50)])
        geom = AcquisitionGeometry(self.model, rec, np.array([[c, c, 20.0]]), t0=0.0,
                                   tn=(nt - 1.01) * dt * 1e3, f0=F0 / 1000.0, src_type="Ricker")
        assert geom.nt == nt, (geom.nt, nt)
        self.solver = AcousticWaveSolver(self.model, geom, space_order=ORDER)
        self.dt_ms = dt * 1e3
        self.info = None

    def prepare(self, mode: str) -> None:
        pass

    def forward(self):
        return self.solver.forward(save=False, dt=self.dt_ms)[0]

    def gradient(self):
        import gc

        from devito import clear_cache

        rec, u, _ = self.solver.forward(save=True, dt=self.dt_ms)
        g = self.solver.jacobian_adjoint(rec, u, dt=self.dt_ms)[0].data.copy()
        # free this call's saved history before the next call: Devito's symbol
        # cache keeps it otherwise, and the peak would grow by one history per call
        del rec, u
        gc.collect()
        clear_cache()
        return g


ENGINES = {"fwi_core": Ours, "devito": Devito}


def _worker(conn, engine: str, mode: str, n: int, nt: int, threads: int, budget: int, warm_n: int = 0) -> None:
    """One (engine, mode): build, warm up, then time a call per "run" message;
    on "stop" report the process's peak resident memory (bytes) and info.
    With ``warm_n``, the warm-up call (compilation) is on a ``warm_n``^3
    model instead of the timed one."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("DEVITO_LANGUAGE", "openmp")
    os.environ.setdefault("DEVITO_LOGGING", "ERROR")
    import numba

    numba.set_num_threads(threads)
    if warm_n:
        w = ENGINES[engine](model(warm_n), time_step(20), 20, threads, budget)
        w.prepare(mode)
        getattr(w, mode)()
    e = ENGINES[engine](model(n), time_step(nt), nt, threads, budget)
    e.prepare(mode)      # not timed (the gradient's data: a forward)
    call = getattr(e, mode)
    if not warm_n:
        call()
    conn.send("ready")
    while conn.recv() == "run":
        t0 = time.perf_counter()
        call()
        conn.send(time.perf_counter() - t0)
    conn.send((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, e.info))


def triad_bandwidth(threads: int, n: int = 32 * 2 ** 20, reps: int = 7) -> float:
    """STREAM triad ``a = b + s c`` on three float32 arrays of ``n`` values
    (384 MB in all, far beyond the caches), best of ``reps``: bytes moved
    (12 per element) per second."""
    import numba
    from numba import njit, prange

    @njit(parallel=True, fastmath=True)
    def triad(a, b, c, s):
        for i in prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    numba.set_num_threads(threads)
    a, b, c = np.zeros(n, np.float32), np.ones(n, np.float32), np.ones(n, np.float32)
    triad(a, b, c, np.float32(0.5))
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        triad(a, b, c, np.float32(0.5))
        best = min(best, time.perf_counter() - t0)
    return 12 * n / best


def compare(a) -> None:
    ctx = mp.get_context("spawn")
    cases = [(e, m) for m in a.modes.split(",") for e in a.engines.split(",")]
    workers, failed = {}, {}
    for case in cases:                     # start (and compile) one after the other, then time
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(child, *case, a.n, a.nt, a.threads, a.budget), daemon=True)
        p.start()
        child.close()                      # the worker's end: a dead worker gives EOFError, not a hang
        try:
            assert parent.recv() == "ready"
            workers[case] = (p, parent)
        except EOFError:                   # killed (the OOM killer: exit -9) or crashed while setting up
            p.join()
            failed[case] = f"worker died (exit code {p.exitcode}{', killed: out of memory?' if p.exitcode == -9 else ''})"
    cases = [c for c in cases if c in workers]
    times = {case: [] for case in cases}
    for _ in range(a.runs):                # alternate: the same machine state for every case
        for case, (p, conn) in list(workers.items()):
            try:
                conn.send("run")
                times[case].append(conn.recv())
            except (EOFError, BrokenPipeError):
                p.join()
                failed[case] = f"worker died while timed (exit code {p.exitcode})"
                del workers[case], times[case]
    cases = [c for c in cases if c in workers]
    peaks, infos = {}, {}
    for case, (p, conn) in workers.items():
        conn.send("stop")
        peaks[case], infos[case] = conn.recv()
        p.join()
    bw = triad_bandwidth(a.threads)
    points = (a.n + 2 * PML) ** 3 * a.nt
    print(f"\n3-D, {a.n}^3 cells + {PML}-cell layer ({(a.n + 2 * PML) ** 3 / 1e6:.2f} M points), order {ORDER}, "
          f"{a.nt} steps, {a.threads} threads, median of {a.runs} alternating runs; fwi_core gradient budget "
          f"{a.budget / 2 ** 20:.0f} MiB\n")
    print(f"triad bandwidth {bw / 1e9:.1f} GB/s: at {BYTES_PER_POINT} B a point the memory bound of a "
          f"step is {bw / BYTES_PER_POINT / 1e6:.0f} Mpt/s\n")
    print("| mode | engine | median s | best s | Mpt/s (median) | time / fwi_core | peak memory MB |")
    print("|---|---|---|---|---|---|---|")
    med = {case: statistics.median(ts) for case, ts in times.items()}
    for (engine, mode) in cases:
        ref = med.get(("fwi_core", mode), med[(engine, mode)])
        print(f"| {mode} | {engine} | {med[(engine, mode)]:.2f} | {min(times[(engine, mode)]):.2f} | "
              f"{points / med[(engine, mode)] / 1e6:.0f} | {med[(engine, mode)] / ref:.2f} | "
              f"{peaks[(engine, mode)] / 2 ** 20:.0f} |")
    for (engine, mode), why in failed.items():
        print(f"| {mode} | {engine} | - | - | - | - | {why} |")
    if ("fwi_core", "forward") in med and ("devito", "forward") in med:
        print(f"\nforward throughput fwi_core / devito: "
              f"{med[('devito', 'forward')] / med[('fwi_core', 'forward')]:.2f}")
    if ("fwi_core", "forward") in med and ("fwi_core", "gradient") in med:
        info = infos[("fwi_core", "gradient")]
        print(f"fwi_core gradient: {med[('fwi_core', 'gradient')] / med[('fwi_core', 'forward')]:.2f} x its "
              f"forward; strategy {info['strategy']}, snapshots {info['snapshots']}, recompute factor "
              f"{info['recompute_factor']:.2f}")


def target(a) -> None:
    n, nt, budget = a.target
    ctx = mp.get_context("spawn")
    out = {}
    for mode in ("forward", "gradient"):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(child, "fwi_core", mode, n, nt, a.threads, budget, 24), daemon=True)
        p.start()
        child.close()
        try:
            assert parent.recv() == "ready"     # compiled on a small model
            parent.send("run")
            t = parent.recv()
            parent.send("stop")
            peak, info = parent.recv()
        except EOFError:
            p.join()
            raise SystemExit(f"fwi_core {mode} worker died (exit code {p.exitcode}"
                             f"{', killed: out of memory?' if p.exitcode == -9 else ''})")
        p.join()
        out[mode] = (t, peak, info)
    points = (n + 2 * PML) ** 3
    full = points * nt * 4
    tf, pf, _ = out["forward"]
    tg, pg, info = out["gradient"]
    print(f"\nfwi_core alone, {n}^3 cells + {PML}-cell layer ({points / 1e6:.2f} M points), {nt} steps, "
          f"{a.threads} threads, gradient budget {budget / 2 ** 20:.0f} MiB (one timed run each)\n")
    print("| mode | s | Mpt/s | peak memory MB |")
    print("|---|---|---|---|")
    print(f"| forward | {tf:.1f} | {points * nt / tf / 1e6:.0f} | {pf / 2 ** 20:.0f} |")
    print(f"| gradient | {tg:.1f} | {points * nt / tg / 1e6:.0f} | {pg / 2 ** 20:.0f} |")
    print(f"\ngradient / forward: {tg / tf:.2f}; strategy {info['strategy']}, snapshots {info['snapshots']}, "
          f"recompute factor {info['recompute_factor']:.2f}")
    print(f"storing the whole forward field (float32, every step) would need {full / 1e9:.1f} GB; "
          f"the boundary strategy's records {info['boundary_bytes'] / 1e9:.1f} GB; "
          f"a snapshot is {info['snapshot_bytes'] / 1e6:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=150, help="cells per axis of the model (n^3)")
    ap.add_argument("--nt", type=int, default=500, help="time steps")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per engine and mode")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--modes", default="forward,gradient")
    ap.add_argument("--engines", default="fwi_core,devito")
    ap.add_argument("--budget", type=int, default=512 * 2 ** 20, help="fwi_core's gradient memory budget (bytes)")
    ap.add_argument("--target", type=int, nargs=3, metavar=("N", "NT", "BUDGET"),
                    help="fwi_core alone: forward and gradient on N^3 for NT steps within BUDGET bytes")
    a = ap.parse_args()
    if a.target:
        target(a)
    else:
        compare(a)


if __name__ == "__main__":
    main()
