"""The engine's (dimension, backend) registry: a registry entry is all a new
backend needs. A stub backend that passes every call through to the CPU 2-D
kernels, counting them, runs the dot-product test and a gradient."""
import sys
import types

import numpy as np
import pytest

import fwi_core as fwi
from fwi_core.engine import backends
from fwi_core.engine.backends import cpu2d

STUB = "fwi_test_stub_backend"


@pytest.fixture
def stub():
    """A module named STUB with the whole interface, each name a counting
    pass-through to the CPU 2-D module, registered as backend "stub" (2-D)."""
    calls = {}
    mod = types.ModuleType(STUB)

    def through(name):
        target = getattr(cpu2d, name)

        def call(*args, **kw):
            calls[name] = calls.get(name, 0) + 1
            return target(*args, **kw)
        return call

    for name in backends.INTERFACE:
        setattr(mod, name, through(name))
    sys.modules[STUB] = mod
    backends.register(2, "stub", STUB)
    yield calls
    backends.unregister(2, "stub")
    del sys.modules[STUB]


def _case(rng):
    vp = fwi.as_model(1800.0 + 900.0 * rng.random((40, 50)), (10.0, 12.0))
    acq = fwi.Acquisition(np.array([[13.3, 217.0], [5.0, 100.0]]),
                          np.array([[3.0, 301.0], [100.0, 100.0], [390.0, 588.0]]))
    return vp, acq


def test_a_registered_stub_backend_passes_the_dot_product_test(rng, stub):
    vp, acq = _case(rng)
    dt, nt = fwi.stable_dt(vp), 300
    f = rng.standard_normal((acq.n_shots, nt))
    kw = dict(pml_width=10, dtype=np.float64, freq=15.0, backend="stub")
    d = fwi.forward(vp, acq, f, dt, nt, **kw).values
    r = rng.standard_normal(d.shape)
    a = fwi.adjoint(vp, acq, r, dt, nt, **kw)
    lhs, rhs = np.sum(d * r), np.sum(f * a)
    assert abs(lhs) > 0 and abs(lhs - rhs) / abs(lhs) < 1e-12
    assert stub["advance"] == acq.n_shots and stub["adjoint_sweep"] == acq.n_shots
    # and it is the same operator as the CPU backend's
    d_cpu = fwi.forward(vp, acq, f, dt, nt, **{**kw, "backend": "cpu"}).values
    assert np.array_equal(d, d_cpu)


def test_a_registered_stub_backend_runs_the_gradient(rng, stub):
    vp, acq = _case(rng)
    dt, nt = fwi.stable_dt(vp), 200
    w = fwi.ricker(15.0, dt, nt)
    obs = np.zeros((acq.n_shots, acq.n_receivers, nt))
    for strategy, loop in (("boundary", "reverse_saved"), ("checkpoint", "execute")):
        J, g = fwi.gradient(vp, acq, w, obs, dt, nt, pml_width=10, backend="stub", strategy=strategy)
        J0, g0 = fwi.gradient(vp, acq, w, obs, dt, nt, pml_width=10, strategy=strategy)
        assert J == J0 and np.array_equal(g.values, g0.values) and stub[loop] > 0


def test_unknown_backends_and_incomplete_modules_are_refused(rng):
    vp, acq = _case(rng)
    w = fwi.ricker(15.0, 1e-3, 50)
    with pytest.raises(ValueError, match=r"backend: no 'gpu' backend for 2-D models; registered: cpu \(2-D\)"):
        fwi.forward(vp, acq, w, 1e-3, 50, backend="gpu")
    sys.modules[STUB] = types.ModuleType(STUB)     # a module without the interface
    backends.register(2, "empty", STUB)
    try:
        with pytest.raises(ValueError, match="lacks regions, core_points"):
            fwi.forward(vp, acq, w, 1e-3, 50, backend="empty")
    finally:
        backends.unregister(2, "empty")
        del sys.modules[STUB]
    with pytest.raises(TypeError, match="unknown engine option.*spce_order"):
        fwi.forward(vp, acq, w, 1e-3, 50, spce_order=4)
