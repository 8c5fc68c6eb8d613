"""The field-data path on Marmousi2 20 m: make SEG-Y shot gathers that look
like a marine survey, invert them, and compare with the inversion given the
true source wavelet and the true geometry (docs/real_data.md).

    python benchmarks/segy_example.py make       # results/segy_example/input/
    snakemake --cores all --configfile config/segy_example.yaml             # wavelet estimated, geometry from headers
    snakemake --cores all --configfile config/segy_example_reference.yaml   # true wavelet, true geometry
    python benchmarks/segy_example.py compare    # results/segy_example/comparison.{json,png}

``make`` models the data in the true model (``../shared/data``, never copied
into the project) with the geometry of ``config/segy_example_reference.yaml``
(sources listed, a streamer from 3000 m to 150 m behind each, clipped at the
model's left edge) and a marine-like source signature the inversion is not
told (a minimum-phase primary and a bubble of opposite sign 0.12 s later,
starting at 0.4 s), resamples the records to 4 ms (anti-aliased), marks 1 %
of the traces dead (junk samples, trace identification code 2) and writes
one SEG-Y file per shot with the geometry in the headers: coordinates in a
rotated UTM-like frame scaled by -100 (cm), elevations and depths scaled by
-100. ``compare`` reads both runs' summaries and the estimated wavelet of
every band against the true one through the same band filter.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "segy_example"
INPUT = OUT / "input"
REFERENCE = ROOT / "config" / "segy_example_reference.yaml"
ESTIMATED = ROOT / "config" / "segy_example.yaml"
DATA_DT = 0.004            # the SEG-Y sample interval (s), like field data
RECORD = 5.2               # record length (s): longer than simulation.t_max
DEAD_FRACTION = 0.01


def true_wavelet(t: np.ndarray, onset: float = 0.4) -> np.ndarray:
    """A marine-like source signature (peak 1): a minimum-phase primary
    (t^2 e^{-t/40 ms} sin(2 pi 7 Hz t)) and a bubble pulse of opposite sign,
    0.12 s later and 0.35 as strong; zero before ``onset`` (s)."""
    def pulse(t0: float) -> np.ndarray:
        tt = np.clip(t - t0, 0.0, None)
        return tt ** 2 * np.exp(-tt / 0.04) * np.sin(2 * np.pi * 7.0 * tt)

    w = pulse(onset) - 0.35 * pulse(onset + 0.12)
    return w / np.abs(w).max()


def make() -> None:
    from fwi_core import config as fc
    from fwi_core import inversion
    from fwi_core.survey import acquisitions, models
    from fwi_core.survey import segy as ss
    from fwi_core.traces.signal import resample

    cfg = fc.validate(fc.load_yaml(REFERENCE))   # no base_dir: the input files do not exist yet
    vp = models.from_source(cfg["true_model"], ROOT)
    acq = acquisitions.from_config(cfg["acquisition"], vp)
    dt = cfg["simulation"]["dt"]
    t = dt * np.arange(int(round(RECORD / dt)) + 1)
    w = true_wavelet(t)
    INPUT.mkdir(parents=True, exist_ok=True)
    np.save(INPUT / "true_wavelet.npy", w)
    print(f"modelling {acq.n_shots} shots ({acq.mask.sum(axis=1).min()}-{acq.mask.sum(axis=1).max()} receivers "
          f"each) in {cfg['true_model']['file']}, dt {dt} s, {t.size} samples")
    d = inversion.model_data(vp, acq, xr.DataArray(w, dims="time", coords={"time": t}), cfg["simulation"])
    t4 = DATA_DT * np.arange(int(round(RECORD / DATA_DT)) + 1)
    rng = np.random.default_rng(17)
    data = resample(d.values, t, t4)
    live = acq.mask & (rng.random(acq.mask.shape) > DEAD_FRACTION)
    data = np.where(live[..., None], data, rng.standard_normal(data.shape).astype(np.float32))
    gathers = xr.DataArray(data, dims=("shot", "receiver", "time"), coords={"time": t4},
                           name="data").assign_coords(trace_mask=(("shot", "receiver"), live))
    seg = cfg["observed"]["segy"]
    paths = ss.write_gathers(gathers, INPUT / "shots", acq=acq, origin=seg["origin"], azimuth=seg["azimuth"],
                             datum=seg["datum"])
    print(f"wrote {len(paths)} SEG-Y files to {INPUT / 'shots'} ({int(acq.mask.sum())} traces, "
          f"{int((acq.mask & ~live).sum())} flagged dead), and {INPUT / 'true_wavelet.npy'}")


def compare(out: Path = OUT) -> dict:
    """Model errors of both runs and the estimated wavelet of every band
    against the true one through the band's filter and time step."""
    from fwi_core import artifacts
    from fwi_core import config as fc
    from fwi_core.traces.signal import butterworth

    summaries = {}
    for run in ("estimated", "reference"):
        summaries[run] = json.loads((out / run / "report" / "summary.json").read_text())
    rows = []
    figs = []
    for b in range(3):
        w_est = artifacts.read(out / "estimated" / f"band{b}" / "data.zarr", "wavelet")
        a = w_est.attrs
        sim = fc.load_yaml(ESTIMATED)["simulation"]
        t = sim["dt"] * np.arange(int(round(sim["t_max"] / sim["dt"])) + 1)
        true = butterworth(true_wavelet(t), sim["dt"], a.get("fmin"), a["fmax"], int(a["order"]))
        true = true[::int(a.get("band_grid_time_factor", 1))][:w_est.sizes["time"]]
        err = float(np.linalg.norm(w_est.values - true) / np.linalg.norm(true))
        rows.append({"band": b, "fmax": a["fmax"], "wavelet_error": err,
                     "data_residual_of_estimate_in_start_model": a["residual_estimate"]})
        figs.append((w_est.time.values, true, w_est.values, a["fmax"]))
    res = {
        "model_error_initial": summaries["estimated"]["model_error_initial"],
        "model_error_estimated": summaries["estimated"]["model_error_final"],
        "model_error_reference": summaries["reference"]["model_error_final"],
        "ratio": summaries["estimated"]["model_error_final"] / summaries["reference"]["model_error_final"],
        "misfit_reduction_estimated": summaries["estimated"]["misfit_reduction"],
        "misfit_reduction_reference": summaries["reference"]["misfit_reduction"],
        "bands": rows,
    }
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.6 * len(figs)), layout="constrained")
    FigureCanvasAgg(fig)
    for k, (tt, tw, ew, fmax) in enumerate(figs):
        ax = fig.add_subplot(len(figs), 1, k + 1)
        ax.plot(tt, tw, "k", label="true (band-filtered)")
        ax.plot(tt, ew, "r--", label="estimated")
        ax.set_xlim(0.0, 1.5)
        ax.set_title(f"band {k} (fmax {fmax:g} Hz): relative error {rows[k]['wavelet_error']:.3f}", fontsize=9)
        ax.legend(fontsize=8)
    ax.set_xlabel("time (s)")
    fig.savefig(out / "comparison.png", dpi=100)
    (out / "comparison.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["make", "compare"])
    args = p.parse_args()
    make() if args.step == "make" else compare()
