"""What a new process pays before its first kernel runs, as every Snakemake
job does: imports, numba's first dispatch (loading its typing and lowering
registries, whatever the function) and loading our cached 2-D kernels.

    python benchmarks/first_dispatch.py [--runs 5]

Each run is a fresh interpreter; the numba cache must be warm (run the
script once first, or any inversion). Prints the median of the runs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def one() -> dict:
    t0 = time.perf_counter()
    import numba
    import numpy as np

    import fwi_core as fwi
    t_imports = time.perf_counter() - t0

    @numba.njit(cache=True)
    def trivial(x):
        return x + 1

    t = time.perf_counter()
    trivial(1)
    t_dispatch = time.perf_counter() - t
    vp = fwi.as_model(np.full((60, 120), 2000.0), 10.0)
    acq = fwi.Acquisition(np.array([[20.0, 600.0]]), np.array([[20.0, 100.0 + 10 * k] for k in range(50)]))
    dt = fwi.stable_dt(vp, space_order=8, safety=0.5)
    w = fwi.ricker(10.0, dt, 200)
    times = []
    for _ in range(2):
        t = time.perf_counter()
        fwi.forward(vp, acq, w, dt, 200)
        times.append(time.perf_counter() - t)
    return {"imports": t_imports, "first dispatch": t_dispatch,
            "kernel loading": times[0] - times[1], "forward (loaded)": times[1]}


def main() -> None:
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(one()))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    n = ap.parse_args().runs
    if n < 1:
        ap.error(f"--runs must be at least 1 (got {n})")
    subprocess.run([sys.executable, __file__, "--child"], check=True, capture_output=True)  # warm the cache
    rows = [json.loads(subprocess.run([sys.executable, __file__, "--child"], check=True,
                                      capture_output=True, text=True).stdout) for _ in range(n)]
    print(f"| step | median s (of {n} fresh processes) |")
    print("|---|---|")
    for k in rows[0]:
        print(f"| {k} | {statistics.median(r[k] for r in rows):.3f} |")


if __name__ == "__main__":
    main()
