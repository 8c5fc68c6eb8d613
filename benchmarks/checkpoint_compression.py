#!/usr/bin/env python
"""How far lossless compression shrinks a 3-D checkpoint state.

A checkpoint restarts the recomputation, so for a gradient exact to rounding
it must be stored without loss. This models one shot of ``bench_3d.py``'s
``--target`` case (an n^3 smooth random medium, 10 m cells, order 8, 20-cell
CPML, the shot at the top centre) and, at a few steps, compresses the two
time levels ``(u^n, u^{n-1})`` with the Blosc codecs that zarr ships
(numcodecs): prints the share of cells that are exactly zero, the
compression ratio and the seconds per state of each codec, and the ratio
when u^{n-1} is stored as its bitwise XOR with u^n.

    python benchmarks/checkpoint_compression.py            # 200^3, 2000 steps: about 2 min on 2 cores
    python benchmarks/checkpoint_compression.py --n 100 --nt 800
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numcodecs import Blosc, blosc

import bench_3d as b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="cells per axis (n^3)")
    ap.add_argument("--nt", type=int, default=2000, help="time steps")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from fwi_core.engine.options import Options
    from fwi_core.engine.propagation import _prepare

    dt = b.time_step(a.nt)
    ours = b.Ours(b.model(a.n), dt, a.nt, a.threads, 1 << 30)
    st, wav = _prepare(ours.vp, ours.acq, ours.w, dt, a.nt, Options.build(None, **ours.kw))
    K = st.kernels
    u, um, spare = K.fields(st.layout, st.dtype, 3)
    aux = K.cpml_fields(st.layout, st.dtype)
    src, rec = st.shot_points(0)
    syn = np.zeros((a.nt, rec[0].shape[0]), dtype=st.dtype)
    codecs = {"zstd 1 + bitshuffle": Blosc("zstd", 1, Blosc.BITSHUFFLE),
              "lz4 5 + shuffle": Blosc("lz4", 5, Blosc.SHUFFLE),
              "zstd 5 + bitshuffle": Blosc("zstd", 5, Blosc.BITSHUFFLE)}
    blosc.set_nthreads(a.threads)
    print(f"# {a.n}^3 cells + 20-cell layer, padded {st.layout.shape}, one state "
          f"{2 * u.nbytes / 1e6:.0f} MB (two time levels)\n")
    print("| step | zero cells | " + " | ".join(f"{k}: ratio (s)" for k in codecs) + " | XOR of the levels, zstd 1 |")
    print("|---" * (len(codecs) + 3) + "|")
    done = 0
    for step in sorted({a.nt // 8, a.nt // 4, a.nt // 2, 3 * a.nt // 4, a.nt - 1}):
        u, um, spare = K.advance(step - done, done, u, um, spare, aux, st.op, src, wav[0], rec, syn, False)
        done = step
        state = np.stack([u, um])
        row = [str(step), f"{np.mean(state == 0):.0%}"]
        for c in codecs.values():
            t0 = time.perf_counter()
            n_enc = len(c.encode(state))
            row.append(f"{state.nbytes / n_enc:.2f} ({time.perf_counter() - t0:.2f})")
        xor = np.stack([u.view(np.uint32), u.view(np.uint32) ^ um.view(np.uint32)])
        row.append(f"{state.nbytes / len(codecs['zstd 1 + bitshuffle'].encode(xor)):.2f}")
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
