"""Summaries of an inversion run: history from the per-iteration model
artifacts, compute time from the artifacts' provenance, comparison tables."""
from __future__ import annotations

import csv
import glob
import json
import os
from typing import Sequence

HISTORY_KEYS = ("band", "iteration", "fmax", "J0", "J", "alpha", "status", "model_error", "elapsed_s")


def history_from_attrs(attrs_list: Sequence[dict]) -> list[dict]:
    """One row per iteration from the attrs of the updated-model artifacts."""
    rows = []
    for a in attrs_list:
        rows.append({k: a.get(k) for k in HISTORY_KEYS if k != "fmax"} | {"message": a.get("message", "")})
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


def misfit_decreased_per_band(history: Sequence[dict]) -> dict[int, bool]:
    out = {}
    for b in sorted({h["band"] for h in history}):
        hb = [h for h in history if h["band"] == b]
        out[b] = hb[-1]["J"] < hb[0]["J0"]
    return out


def write_csv(rows: Sequence[dict], path: str, keys: Sequence[str] | None = None) -> str:
    keys = list(keys or (rows[0].keys() if rows else []))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path
