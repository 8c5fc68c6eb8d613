#!/usr/bin/env python
"""Per-band grids on Marmousi2: gradient error and time saved.

For each band of ``config/marmousi2.yaml`` (its filters, velocity bounds,
acquisition geometry and record length; a few shots, see ``--shots``), the
band's gradient is computed twice from the smoothed starting model against
data of the true model: on the model grid (20 m, the data's dt) and on the
band grid that :func:`fwi_core.inversion.bandgrid.choose` picks, mapped back with
``R^T`` (:func:`fwi_core.inversion.bandgrid.refine_gradient`). Prints one markdown
table: band grid and time factor, correlation of the two gradients (over
the model, outside the water), relative misfit difference, wall time of each
and the speed-up (median of ``--runs``). Observed data are modelled on the
model grid, as the inversion sees them.

    python benchmarks/band_grids.py            # about 3 min on 2 cores
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "config" / "marmousi2.yaml"))
    ap.add_argument("--shots", type=int, default=4, help="shots (spread over the line)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per case (median)")
    args = ap.parse_args()

    import fwi_core as fwi
    from fwi_core.inversion import bandgrid
    from fwi_core import inversion
    from fwi_core.survey import models

    cfg = yaml.safe_load(open(args.config))
    vals = np.load((ROOT / cfg["true_model"]["file"]).resolve())
    h = float(cfg["true_model"]["spacing"])
    true = fwi.as_model(vals, spacing=(h, h))
    vp0 = models.from_source(cfg["inversion"]["initial"], true_model=true)   # as the pipeline builds it
    a = cfg["acquisition"]
    full = fwi.Acquisition.surface(true, a["n_shots"], a["n_receivers"], a["source_depth"], a["receiver_depth"])
    acq = full.select(np.linspace(0, full.n_shots - 1, args.shots).round().astype(int))
    sim = {**inversion.SIM_DEFAULTS, **cfg.get("simulation", {})}
    bounds = cfg["inversion"]["bounds"]
    bands = cfg["inversion"]["bands"]
    dt = inversion.choose_dt(true, bounds[1], sim["space_order"], sim["cfl_safety"])
    nt = len(inversion.time_axis(dt, sim["t_max"]))
    freq = cfg["wavelet"]["freq"]
    w = inversion.source_wavelet(freq, dt, nt, inversion.wavelet_delay(freq, dt, min(bands, key=lambda b: b["fmax"])))
    kw = {"options": inversion.engine_options(sim)}
    d_obs = fwi.forward(true, acq, w.values, dt=dt, nt=nt, **kw)
    water = (vp0.values <= 1.01 * 1500.0)
    print(f"# Per-band grids, Marmousi2 {true.shape[0]}x{true.shape[1]} at {h:g} m, {acq.n_shots} shots, "
          f"{acq.n_receivers} receivers, dt {dt * 1e3:.3f} ms, nt {nt}, order {sim['space_order']}, "
          f"bounds {bounds}; median of {args.runs} runs\n")
    print("| band fmax (Hz) | band grid | spacing (m) | dt factor | corr. gradient (below water) "
          "| corr. preconditioned | misfit rel. diff | fine s | band s | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for band in bands:
        d_f, w_f = inversion.prepare_band(d_obs, w, band, 4)
        d_c, w_c = inversion.prepare_band(d_obs, w, band, 4, true, sim, bounds)
        grid = bandgrid.BandGrid.from_attrs(w_c.attrs)
        cond = inversion.band_conditioning(None, grid)   # the band grid's near-offset mute, on both
        out = {}
        for name, (d, wb) in {"fine": (d_f, w_f), "band": (d_c, w_c)}.items():
            ts = []
            for _ in range(args.runs + 1):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = inversion.shot_gradients(vp0, acq, wb, d, range(acq.n_shots), sim, "l2",
                                                  vmax=bounds[1], conditioning=cond)
                ts.append(time.perf_counter() - t0)
            out[name] = (ds, statistics.median(ts[1:]))
        gf, gc = out["fine"][0]["gradient"].values, out["band"][0]["gradient"].values
        m = ~water
        corr = float(np.corrcoef(gf[m], gc[m])[0, 1])
        pc = {**inversion.DEFAULTS["precondition"], **cfg["inversion"].get("precondition", {})}
        pf, pb = (inversion.combine_gradients(vp0, [out[k][0]], acq, band, pc)["pgradient"].values
                  for k in ("fine", "band"))
        pcorr = float(np.corrcoef(pf.ravel(), pb.ravel())[0, 1])
        Jf, Jc = float(out["fine"][0]["misfit"].sum()), float(out["band"][0]["misfit"].sum())
        print(f"| {band['fmax']:g} | {grid.shape[0]}x{grid.shape[1]} | {grid.spacing[0]:.1f} x {grid.spacing[1]:.1f} "
              f"| {grid.time_factor} | {corr:.4f} | {pcorr:.4f} | {abs(Jc - Jf) / Jf:.2e} | {out['fine'][1]:.2f} "
              f"| {out['band'][1]:.2f} | {out['fine'][1] / out['band'][1]:.1f}x |")


if __name__ == "__main__":
    main()
