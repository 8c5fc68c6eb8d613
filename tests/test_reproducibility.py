"""A run's bits do not depend on the numba cache state (issue 14.4): kernels
compiled in the running process and the same kernels loaded from numba's
cache give bitwise-equal traces and gradients. Before the fix the first
(compiling) process differed from every later one by 2.5e-7 relative."""
import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import fwi_core as fwi
    from fwi_core.survey import models

    vp = models.geology((40, 100), 20.0, seed=3)
    acq = fwi.Acquisition.surface(vp, n_shots=2, n_receivers=30, source_depth=20.0, receiver_depth=20.0)
    dt = fwi.stable_dt(vp, safety=0.8)
    nt = 500
    w = fwi.ricker(freq=6.0, dt=dt, nt=nt)
    d = fwi.forward(vp, acq, w, dt=dt, nt=nt)
    vp0 = models.smooth(vp, 300.0)
    out = {"d": d.values}
    for strategy in ("boundary", "checkpoint"):
        J, g = fwi.gradient(vp0, acq, w, d, dt=dt, nt=nt, strategy=strategy)
        out["g_" + strategy] = g.values
    np.savez(sys.argv[1], **out)
""")


def test_compiled_and_cached_kernels_give_the_same_bits(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    results = []
    for k in ("compiled", "cached"):
        subprocess.run([sys.executable, str(script), str(tmp_path / f"{k}.npz")], env=env, check=True, timeout=900)
        results.append(np.load(tmp_path / f"{k}.npz"))
        if k == "compiled":
            assert any((tmp_path / "cache").rglob("*.nbi")), "nothing was cached"
    compiled, cached = results
    assert set(compiled.files) == {"d", "g_boundary", "g_checkpoint"}
    for name in compiled.files:
        assert np.abs(compiled[name]).max() > 0
        np.testing.assert_array_equal(compiled[name], cached[name], err_msg=name)
