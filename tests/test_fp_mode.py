"""Kernels flush subnormal floats (about 10x slower on x86) but leave the
caller's floating-point mode as it was."""
import platform

import numpy as np
import pytest
from numba import njit

import fwi_core as fwi
from fwi_core.engine.backends import cpu2d as K

TINY = np.float32(1e-39)  # subnormal in float32


@njit
def _product_with_flush(a, b):
    fp = K.flush_denormals()
    c = a * b
    K.restore_fp(fp)
    return c


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="MXCSR is x86")
def test_flush_denormals_flushes_inside_and_restores_after():
    one = np.ones(1, np.float32)
    assert (TINY * one)[0] != 0                           # the caller keeps gradual underflow
    assert _product_with_flush(TINY, np.float32(1.0)) == 0  # flushed inside the kernel
    assert (TINY * one)[0] != 0                           # and restored after it


def test_runs_leave_the_callers_mode(rng):
    vp = fwi.as_model(np.full((30, 40), 2000.0), 10.0)
    acq = fwi.Acquisition(np.array([[50.0, 200.0]]), np.array([[100.0, 100.0]]))
    dt, nt = fwi.stable_dt(vp), 100
    w = fwi.ricker(freq=15.0, dt=dt, nt=nt)
    for num_threads in (1, 2):
        d = fwi.forward(vp, acq, w, dt, nt, num_threads=num_threads)
        fwi.gradient(vp, acq, w, d * 0.5, dt, nt, num_threads=num_threads)
    assert (TINY * np.ones(1, np.float32))[0] != 0
