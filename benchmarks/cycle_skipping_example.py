"""Cycle skipping and how multi-scale FWI or a traveltime / Wasserstein misfit avoid it.

The cases here are the ones ``tests/test_cycle_skipping.py`` asserts on (the
test imports :func:`problem` and :func:`run_case` from this file, so both run
the same set-up through :func:`fwi_core.inversion.invert`, the code path of
the Snakemake pipeline). Run::

    python benchmarks/cycle_skipping_example.py [--out docs/figures] [--iterations-scale 2]

It prints a table of model errors per case and writes the figures used in
``docs/cycle_skipping.md``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

import fwi_core as fwi
from fwi_core.inversion import diagnostics
from fwi_core import inversion
from fwi_core.survey.models import model_error_reduction, relative_error

# ----------------------------------------------------------------------------- set-up
NZ, NX, SPACING = 24, 100, 25.0   # 0.6 km deep, 2.5 km wide
F_PEAK = 7.0                      # Ricker peak frequency (Hz)
PEAK_TIME = 0.5                   # wavelet delay (s): room for the low-pass precursor
T_MAX = 2.0                       # record length (s)
VMAX = 3200.0                     # fixes dt (and is above every model visited)
N_SHOTS, N_RECEIVERS = 3, 50
DEPTH = 25.0                      # sources and receivers (m)
BACKGROUND_ERROR = 0.92           # the starting background is 8 % slow
SIM = {"pml_width": 10}
LINE_SEARCH = {"first_change": 0.08, "max_change": 0.15}
# sources and receivers sit 25 m deep in a 600 m model: the default 60 m + 60 m
# mute around them would freeze the top fifth of the model, where the error is too
PRECONDITION = {"mask_radius": 20.0, "mask_taper": 30.0}
LOW, HIGH = 3.0, 10.0             # fmax of the low and of the highest band (Hz)


def problem() -> dict:
    """True and starting models, acquisition, wavelet and observed data."""
    z = SPACING * np.arange(NZ)[:, None] + np.zeros((1, NX))
    x = SPACING * np.arange(NX)[None, :] + np.zeros((NZ, 1))
    trend = 1600.0 + 1.6 * z
    v_true = trend.copy()
    v_true[z >= 400.0] += 200.0                                              # a layer boundary
    v_true -= 150.0 * np.exp(-((z - 230.0) ** 2 / 70.0 ** 2 + (x - 1300.0) ** 2 / 350.0 ** 2))  # slow lens
    v0 = BACKGROUND_ERROR * gaussian_filter(trend, 2.0, mode="nearest")    # wrong smooth background
    vp_true = fwi.as_model(v_true.astype(np.float32), SPACING)
    vp0 = fwi.as_model(v0.astype(np.float32), SPACING)
    acq = fwi.Acquisition.surface(vp_true, n_shots=N_SHOTS, n_receivers=N_RECEIVERS,
                                  source_depth=DEPTH, receiver_depth=DEPTH, margin=2 * SPACING)
    dt = inversion.choose_dt(vp_true, VMAX)
    nt = inversion.time_axis(dt, T_MAX).size
    w = fwi.ricker(F_PEAK, dt, nt, peak_time=PEAK_TIME)
    wavelet = inversion.source_wavelet(F_PEAK, dt, nt).copy(data=w.astype(np.float64))
    d_obs = inversion.model_data(vp_true, acq, wavelet, SIM)
    return {"vp_true": vp_true, "vp0": vp0, "acq": acq, "wavelet": wavelet, "d_obs": d_obs, "dt": dt}


def cases(scale: int = 1) -> dict[str, dict]:
    """Inversion cases: bands and misfit. ``scale`` multiplies the iterations."""
    it = lambda n: int(n * scale)  # noqa: E731
    return {
        "l2-high": {"misfit": "l2", "bands": [{"fmax": HIGH, "iterations": it(3)}]},
        "l2-multiscale": {"misfit": "l2", "bands": [{"fmax": LOW, "iterations": it(5)},
                                                    {"fmax": 6.0, "iterations": it(2)},
                                                    {"fmax": HIGH, "iterations": it(3)}]},
        "traveltime-high": {"misfit": "traveltime", "bands": [{"fmax": HIGH, "iterations": it(3)}]},
        "wasserstein-high": {"misfit": "wasserstein", "bands": [{"fmax": HIGH, "iterations": it(3)}]},
    }


def run_case(p: dict, case: dict, callback=None) -> dict:
    """Run one case; returns the final model, the history and the normalised
    model error ||v - v_true|| / ||v0 - v_true|| after every iteration."""
    res = inversion.invert(p["vp0"], p["acq"], p["wavelet"], p["d_obs"], bands=case["bands"],
                           sim=SIM, vp_true=p["vp_true"], misfit={"name": case["misfit"]},
                           line_search=LINE_SEARCH, precondition=PRECONDITION, bounds=[1400.0, VMAX],
                           callback=callback)
    e0 = relative_error(p["vp0"], p["vp_true"])  # history holds ||v - v_true|| / ||v_true||
    err = [1.0] + [h["model_error"] / e0 for h in res.history]
    return {"model": res.model, "history": res.history, "error": np.asarray(err),
            "final_error": 1.0 - model_error_reduction(res.model, p["vp0"], p["vp_true"])}


def cycle_skip(p: dict, fmax: float) -> dict:
    """Cycle-skip risk of the starting model's data in the band ``fmax`` (low-pass)."""
    syn = inversion.model_data(p["vp0"], p["acq"], p["wavelet"], SIM)
    band = {"fmax": fmax}
    d_b, _ = inversion.prepare_band(p["d_obs"], p["wavelet"], band)
    s_b, _ = inversion.prepare_band(syn, p["wavelet"], band)
    return diagnostics.cycle_skip_risk(s_b.values, d_b.values, p["dt"], fmax)


def offsets(acq) -> np.ndarray:
    """Source-receiver offsets (m), shape (n_shots, n_receivers)."""
    return acq.receivers[..., 1] - acq.sources[:, None, 1]


def error_curves_figure(results: dict[str, dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, r in results.items():
        ax.plot(np.arange(r["error"].size), r["error"], "o-", label=name)
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.axhline(0.6, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("iteration (all bands)")
    ax.set_ylabel("||v - v_true|| / ||v0 - v_true||")
    ax.legend()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    from fwi_core.report.plotting import plot_models

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/figures", help="figure directory")
    ap.add_argument("--iterations-scale", type=float, default=1.0,
                    help="multiply every band's iterations (the test uses 1)")
    ap.add_argument("--only", nargs="*", help="run only these cases")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.process_time()
    p = problem()
    print(f"set-up: dt {p['dt']:.4f} s, nt {p['wavelet'].sizes['time']}, "
          f"{time.process_time() - t:.1f} s cpu")
    print("\n| band fmax (Hz) | half period (ms) | traces beyond T/2 | max abs shift (ms) |")
    print("|---|---|---|---|")
    for f in (LOW, 6.0, HIGH):
        r = cycle_skip(p, f)
        print(f"| {f:g} | {1e3 * r['half_period']:.0f} | {100 * r['fraction']:.0f} % "
              f"({r['n_skipped']}/{r['n_live']}) | {1e3 * np.max(np.abs(r['shifts'])):.0f} |")
        if f in (LOW, HIGH):
            diagnostics.plot_cycle_skip(r, offsets=offsets(p["acq"]),
                                        path=out / f"cycle_skip_{f:g}hz.png")
    results = {}
    for name, case in cases(args.iterations_scale).items():
        if args.only and name not in args.only:
            continue
        t = time.process_time()
        results[name] = run_case(p, case)
        results[name]["cpu"] = time.process_time() - t
    print("\n| case | misfit | bands (fmax Hz x iterations) | final model error | reduction | cpu (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        c = cases(args.iterations_scale)[name]
        bands = ", ".join(f"{b['fmax']:g}x{b['iterations']}" for b in c["bands"])
        print(f"| {name} | {c['misfit']} | {bands} | {r['final_error']:.3f} | "
              f"{100 * (1 - r['final_error']):.0f} % | {r['cpu']:.0f} |")
    if results:
        models = {"true": p["vp_true"], "initial (8 % slow background)": p["vp0"]}
        models.update({f"final: {n} ({r['final_error']:.2f})": r["model"] for n, r in results.items()})
        plot_models(models, str(out / "cycle_skip_models.png"))
        error_curves_figure(results, out / "cycle_skip_model_error.png")
    print(f"\nfigures in {out}/")


if __name__ == "__main__":
    main()
