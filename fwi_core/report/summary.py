"""Summaries of an inversion run: history from the per-iteration model
artifacts, compute time from the artifacts' provenance, comparison tables."""
from __future__ import annotations

import csv
import glob
import json
import logging
import os
from typing import Any, Sequence

from ..artifacts import replacing
from ..inversion import diagnostics

HISTORY_KEYS = ("band", "iteration", "fmax", "J0", "J", "alpha", "status", "model_error", "elapsed_s")


def history_from_attrs(attrs_list: Sequence[dict]) -> list[dict]:
    """One row per iteration from the attrs of the updated-model artifacts;
    ``elapsed_s`` is the iteration's compute (attr ``iteration_s``, all of its
    jobs), or for older artifacts the update's own."""
    rows = []
    for a in attrs_list:
        rows.append({k: a.get(k) for k in HISTORY_KEYS if k != "fmax"} | {"message": a.get("message", "")}
                    | {"elapsed_s": a.get("iteration_s", a.get("elapsed_s"))})
    return rows


def compute_seconds(run_dir: str) -> float:
    """Sum of the jobs' own compute times (``elapsed_s`` attrs) under a run directory."""
    total = 0.0
    for meta in glob.glob(os.path.join(run_dir, "**", "*.zarr", "zarr.json"), recursive=True):
        try:
            with open(meta) as f:
                total += float(json.load(f).get("attributes", {}).get("elapsed_s", 0.0))
        except (OSError, ValueError):
            pass
    return total


def progress_message(per_band: Sequence[int], b: int, i: int, spent_s: float, counted: int,
                     pace_s: float | None = None) -> str:
    """Where a run stands after iteration ``i`` of band ``b`` (0-based):
    band b/B, iteration i/I, iterations of the run done, and an estimate of
    the compute left. ``per_band``: iterations of every band of the run;
    ``spent_s``: compute seconds of the last ``counted`` iterations;
    ``pace_s``: seconds per iteration to extrapolate with (default
    ``spent_s / counted``)."""
    total, done = int(sum(per_band)), int(sum(per_band[:b])) + i + 1
    pace = pace_s if pace_s is not None else spent_s / max(counted, 1)
    return (f"progress: band {b + 1}/{len(per_band)}, iteration {i + 1}/{per_band[b]}; "
            f"{done}/{total} iterations of the run; {spent_s:.1f} s for {counted} of them, "
            f"about {pace * (total - done):.0f} s of compute left")


def misfit_decreased_per_band(history: Sequence[dict]) -> dict[int, bool]:
    out = {}
    for b in sorted({h["band"] for h in history}):
        hb = [h for h in history if h["band"] == b]
        out[b] = hb[-1]["J"] < hb[0]["J0"]
    return out


def write_csv(rows: Sequence[dict], path: str, keys: Sequence[str] | None = None) -> str:
    keys = list(keys or (rows[0].keys() if rows else []))
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def cycle_skip_rows(grad_attrs: Sequence[dict]) -> list[dict]:
    """One row per iteration (``band``, ``iteration``, ``fmax``, ``fraction``,
    ``n_live``, ``n_skipped``) from the attrs of the gradient-sum artifacts."""
    return [{"band": a.get("band"), "iteration": a.get("iteration"), "fmax": a.get("fmax"),
             "fraction": a.get("cycle_skip_fraction"), "n_live": a.get("n_live"),
             "n_skipped": a.get("n_skipped")} for a in grad_attrs]


def warn_cycle_skipping_bands(first: dict[int, dict[str, Any]], threshold: float = 0.2,
                              logger: logging.Logger | None = None) -> list[int]:
    """Warn (``diagnostics.warn_if_cycle_skipping``) for every band whose first
    iteration has more than ``threshold`` of its live traces beyond half a
    period. ``first``: band -> risk dict of its first iteration. Returns the
    bands warned about."""

    warned = []
    for b in sorted(first):
        log = logger or logging.getLogger(__name__)
        if first[b]["fraction"] > threshold:
            log.warning("band %d starts at risk of cycle skipping:", b)
        if diagnostics.warn_if_cycle_skipping(first[b], threshold, logger=log):
            warned.append(b)
    return warned


def cycle_skip_report(grads: Sequence, offsets, threshold: float, csv_path: str, history_png: str,
                      shifts_png: str, logger: logging.Logger | None = None) -> dict:
    """Cycle-skipping part of a run's report from its gradient-sum artifacts
    (``grads``, in band/iteration order): the table per band and iteration
    (``csv_path``), the line plot of the fraction (``history_png``), the shift
    histograms of every band's first iteration (``shifts_png``; ``offsets``
    (n_shots, n_receivers) m for the shift-vs-offset panel) and the warnings.
    Returns the summary entries (fraction at each band's start, bands warned)."""

    rows = cycle_skip_rows([g.attrs for g in grads])
    write_csv(rows, csv_path)
    diagnostics.plot_cycle_skip_history(rows, history_png, threshold=threshold)
    first = {r["band"]: diagnostics.risk_from_dataset(g) for r, g in zip(rows, grads) if r["iteration"] == 0}
    bands = sorted(first)
    diagnostics.plot_cycle_skip_bands([first[b] for b in bands], offsets, shifts_png,
                                      labels=[f"band {b}, iteration 0" for b in bands])
    warned = warn_cycle_skipping_bands(first, threshold, logger)
    return {"cycle_skip_fraction_at_band_start": {str(b): first[b]["fraction"] for b in bands},
            "cycle_skip_warned_bands": warned}
