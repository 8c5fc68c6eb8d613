"""3-D forward modelling and gradient: fwi_core against Devito on the same
grid, in one script.

Both engines model one shot of an order-8 acoustic wave on an n^3 model (a
smooth random medium, 10 m cells) with a 20-cell absorbing layer, for nt
steps at the same dt, with the same number of threads; the runs alternate
between engines and the table gives medians (and best) over them. Devito
runs its own acoustic example operators (examples.seismic, shipped in its
wheel: sponge layer, gradient from a saved forward history); fwi_core runs
fwi.forward and fwi.gradient (CPML; the gradient rebuilds the forward field
from its boundary or checkpoints within its default memory budget).

Throughput is million grid-point updates per second: (n + 2 * 20)^3 points
x nt steps / seconds, for both engines (the absorbing layer is computed by
both). The first call of each engine (compilation) is not timed.

    pip install --no-deps devito==4.8.23   # plus its runtime deps, benchmarks/requirements-peers.txt
    python benchmarks/bench_3d.py --n 160 --nt 300 --runs 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

PML, ORDER, H, F0 = 20, 8, 10.0, 10.0


def model(n: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    v = gaussian_filter(np.random.default_rng(0).random((n, n, n)), 4)
    return (2000.0 + 1500.0 * (v - v.min()) / (v.max() - v.min())).astype(np.float32)


class Ours:
    name = "fwi_core"

    def __init__(self, v, dt, nt, threads):
        import fwi_core as fwi

        self.fwi, self.nt, self.dt = fwi, nt, dt
        n = v.shape[0]
        self.vp = fwi.as_model(v, H)
        c = H * (n - 1) / 2
        self.acq = fwi.Acquisition(np.array([[20.0, c, c]]),
                                   np.array([[20.0, c, x] for x in np.linspace(0, H * (n - 1), 50)]))
        self.w = fwi.ricker(F0, dt, nt)
        self.kw = dict(space_order=ORDER, pml_width=PML, vmax=3500.0, freq=F0, num_threads=threads)
        self.obs = None

    def forward(self):
        return self.fwi.forward(self.vp, self.acq, self.w, self.dt, self.nt, **self.kw)

    def gradient(self):
        if self.obs is None:
            self.obs = np.zeros_like(self.forward().values)
        _, g, info = self.fwi.gradient(self.vp, self.acq, self.w, self.obs + 1e-3, self.dt, self.nt,
                                       return_info=True, **self.kw)
        self.info = info
        return g


class Devito:
    name = "devito"

    def __init__(self, v, dt, nt, threads):
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

    def forward(self):
        return self.solver.forward(save=False, dt=self.dt_ms)[0]

    def gradient(self):
        rec, u, _ = self.solver.forward(save=True, dt=self.dt_ms)
        return self.solver.jacobian_adjoint(rec, u, dt=self.dt_ms)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=160, help="cells per axis of the model (n^3)")
    ap.add_argument("--nt", type=int, default=300, help="time steps")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per engine and mode")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--modes", default="forward,gradient")
    ap.add_argument("--engines", default="fwi_core,devito")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    os.environ.setdefault("DEVITO_LANGUAGE", "openmp")
    os.environ.setdefault("DEVITO_LOGGING", "ERROR")
    import numba

    numba.set_num_threads(a.threads)
    v = model(a.n)
    dt = 0.5 * 0.8 * H / (3500.0 * np.sqrt(3))   # well inside both engines' CFL limits at order 8
    points = (a.n + 2 * PML) ** 3 * a.nt
    engines = [{"fwi_core": Ours, "devito": Devito}[e](v, dt, a.nt, a.threads) for e in a.engines.split(",")]
    rows = []
    for mode in a.modes.split(","):
        times = {e.name: [] for e in engines}
        for e in engines:
            getattr(e, mode)()                     # compile, warm caches
        for _ in range(a.runs):                    # alternate engines: the same machine state for both
            for e in engines:
                t0 = time.perf_counter()
                getattr(e, mode)()
                times[e.name].append(time.perf_counter() - t0)
        for name, ts in times.items():
            rows.append((mode, name, statistics.median(ts), min(ts), points / statistics.median(ts) / 1e6))
    ref = {mode: t for mode, name, t, *_ in rows if name == "fwi_core"}
    print(f"\n3-D, {a.n}^3 cells + {PML}-cell layer, order {ORDER}, {a.nt} steps, {a.threads} threads, "
          f"median of {a.runs} runs\n")
    print("| mode | engine | median s | best s | Mpt/s (median) | time / fwi_core |")
    print("|---|---|---|---|---|---|")
    for mode, name, med, best, mpts in rows:
        print(f"| {mode} | {name} | {med:.2f} | {best:.2f} | {mpts:.0f} | {med / ref.get(mode, med):.2f} |")
    for e in engines:
        if getattr(e, "info", None):
            print(f"\nfwi_core gradient: strategy {e.info['strategy']}, snapshots {e.info['snapshots']}, "
                  f"recompute factor {e.info['recompute_factor']:.2f}")


if __name__ == "__main__":
    main()
