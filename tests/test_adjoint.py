"""Dot-product tests: the adjoint propagation is the transpose of the forward."""
import numpy as np
import pytest

import fwi_core as fwi


def _case(rng, free_surface):
    v = 1800.0 + 900.0 * rng.random((40, 50))
    vp = fwi.as_model(v, (10.0, 12.0))
    src = np.array([[13.3, 217.0], [0.0 if free_surface else 5.0, 100.0]])
    rec = np.array([[3.0, 301.0], [100.0, 100.0], [0.0, 50.0], [390.0, 588.0]])
    return vp, fwi.Acquisition(src, rec)


@pytest.mark.parametrize("free_surface", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("space_order", [4, 8])
def test_dot_product(rng, free_surface, dtype, tol, space_order):
    vp, acq = _case(rng, free_surface)
    dt = fwi.stable_dt(vp, space_order=space_order)
    nt = 300
    f = rng.standard_normal((acq.n_shots, nt))
    kw = dict(space_order=space_order, pml_width=10, free_surface=free_surface, dtype=dtype, freq=15.0)
    d = fwi.forward(vp, acq, f, dt, nt, **kw).values.astype(np.float64)
    r = rng.standard_normal(d.shape)
    a = fwi.adjoint(vp, acq, r, dt, nt, **kw).astype(np.float64)
    lhs, rhs = np.sum(d * r), np.sum(f * a)
    assert abs(lhs) > 0
    assert abs(lhs - rhs) / abs(lhs) < tol, (lhs, rhs)


def test_dot_product_detects_a_wrong_adjoint(rng):
    """The test has teeth: a perturbed transpose (another absorbing layer) fails it."""
    vp, acq = _case(rng, False)
    dt, nt = fwi.stable_dt(vp), 300
    f = rng.standard_normal((acq.n_shots, nt))
    d = fwi.forward(vp, acq, f, dt, nt, pml_width=10, dtype=np.float64, freq=15.0).values
    r = rng.standard_normal(d.shape)
    a = fwi.adjoint(vp, acq, r, dt, nt, pml_width=10, dtype=np.float64, freq=30.0)
    lhs, rhs = np.sum(d * r), np.sum(f * a)
    assert abs(lhs - rhs) / abs(lhs) > 1e-6
