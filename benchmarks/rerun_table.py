#!/usr/bin/env python
"""What a config change reruns: the table of docs/pipeline.md ("What reruns").

Runs the 2-band x 2-iteration test config (``tests/test_pipeline.py::SHORT``,
6 shots in groups of 3) to the end twice, with one job per stage
(``fuse_bands: false``) and with both bands in one job (``fuse_bands:
true``), then changes one thing at a time and counts the jobs
``snakemake -n`` plans (the ``all`` target not counted). Prints one
markdown table.

    python benchmarks/rerun_table.py              # about 5 min on 2 cores
    python benchmarks/rerun_table.py --keep DIR   # keep the two runs in DIR
"""
from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_pipeline import SHORT, _smk as _run_smk, _write_cfg  # noqa: E402  (the tests' config and runner)


def _band(b: int, key: str, value):
    def f(c):
        c["inversion"]["bands"][b][key] = value(c["inversion"]["bands"][b].get(key))
    return f


def _set(path: str, value):
    def f(c):
        *head, last = path.split(".")
        d = c
        for k in head:
            d = d.setdefault(k, {})
        d[last] = value
    return f


#: (row label, changes); each change edits a deep copy of the config in place.
CHANGES = [
    ("nothing", []),
    ("`execution.threads`", [_set("execution.threads", 2)]),
    ("`execution.target_job_seconds`", [_set("execution.target_job_seconds", 25.0)]),
    ("`cycle_skip_threshold`", [_set("inversion.cycle_skip_threshold", 0.3)]),
    ("band 1 `fmax`", [_band(1, "fmax", lambda v: 5.5)]),
    ("band 1 `max_offset`", [_band(1, "max_offset", lambda v: 1500.0)]),
    ("one more iteration in band 1", [_band(1, "iterations", lambda v: v + 1)]),
    ("one more iteration in band 0", [_band(0, "iterations", lambda v: v + 1)]),
    ("`optimizer`", [_set("inversion.optimizer", {"memory": 3})]),
    ("`line_search`", [_set("inversion.line_search.first_change", 0.06)]),
    ("`precondition`", [_set("inversion.precondition.mask_radius", 50.0)]),
    ("`misfit`", [_set("inversion.misfit", {"name": "envelope"})]),
    ("`conditioning`", [_set("inversion.conditioning", {"time_window": {"tmax": 1.6}})]),
    ("initial model (`from_true.smooth`)", [_set("inversion.initial", {"from_true": {"smooth": 350.0}})]),
    ("band 0 `fmax` (the lowest band: it sets the automatic wavelet delay)", [_band(0, "fmax", lambda v: 3.5)]),
    ("`wavelet`", [_set("wavelet.freq", 9.0)]),
    ("`simulation`", [_set("simulation.pml_width", 16)]),
    ("`acquisition`", [_set("acquisition.n_receivers", 44)]),
    ("`bounds` (also the time step and the CPML reference)", [_set("inversion.bounds", [1400.0, 4800.0])]),
]


def _smk(d: Path, *args: str) -> str:
    r = _run_smk(d, "--cores", "2", *args)
    return r.stdout + r.stderr


def planned_jobs(out: str) -> int:
    """Jobs of a ``snakemake -n`` plan, its ``all`` target not counted."""
    if re.search(r"nothing to be done", out, re.I):
        return 0
    stats = dict(re.findall(r"^(\S+)\s+(\d+)\s*$", out, re.M))
    return int(stats["total"]) - int(stats.get("all", 0))


def measure(d: Path, cfg: dict) -> list[int]:
    """Run ``cfg`` to the end in ``d``, then the dry-run job count of every change."""
    _write_cfg(d, cfg)
    _smk(d)
    counts = []
    for label, edits in CHANGES:
        c = copy.deepcopy(cfg)
        for e in edits:
            e(c)
        _write_cfg(d, c)
        counts.append(planned_jobs(_smk(d, "-n")))
        print(f"  {d.name}: {label}: {counts[-1]}", file=sys.stderr)
    _write_cfg(d, cfg)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="directory for the two runs (default: a temporary one, removed)")
    args = ap.parse_args()
    top = Path(args.keep or tempfile.mkdtemp(prefix="rerun_table_"))
    top.mkdir(parents=True, exist_ok=True)
    try:
        cols = {}
        for name, fuse in (("staged", False), ("fused", True)):
            cfg = copy.deepcopy(SHORT)
            cfg["execution"] = {**cfg["execution"], "fuse_bands": fuse}
            cols[name] = measure(top / name, cfg)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    print("| change | one job per stage (`fuse_bands: false`) | fused (both bands one job) |")
    print("|---|---|---|")
    for (label, _), a, b in zip(CHANGES, cols["staged"], cols["fused"]):
        print(f"| {label} | {a} | {b} |")


if __name__ == "__main__":
    main()
