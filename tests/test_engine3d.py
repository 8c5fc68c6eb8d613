"""The 3-D engine (backend ``(3, "cpu")``) with the guarantees of the 2-D one:
traces against the 3-D free-space Green's function, the absorbing layer,
the dot-product test with CPML and free surface, Taylor tests of the
gradient for two misfits, every gradient strategy against the stored-field
gradient, a 3-D/2-D consistency check and the pre-run checks. Grids stay
at a few 10^5 points."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import fwi_core as fwi

C, F0 = 2000.0, 10.0


def ricker_t(t, f0, t0):
    a = (np.pi * f0 * (t - t0)) ** 2
    return (1 - 2 * a) * np.exp(-a)


# ----------------------------------------------------------------------------- analytic
SRC = np.array([[162.5, 162.5, 125.0]])
REC = np.array([[162.5, 162.5, 425.0],      # on the grid
                [171.3, 155.9, 418.7]])     # off the grid


def greens_errors(order: int, src=SRC, h: float = 12.5, safety: float = 0.3) -> list[float]:
    """Relative L2 errors of traces against ``f(t - r/c) / (4 pi r)``, the 3-D
    free-space Green's function of ``m u_tt - lap u = f`` convolved with the
    wavelet. 12.5 m cells: 6.6 points per shortest wavelength (Ricker 10 Hz:
    useful up to about 24 Hz at 2000 m/s); dt at 0.3 x CFL keeps the
    leapfrog's time dispersion small, as in the 2-D test."""
    vp = fwi.as_model(np.full((int(325 / h) + 1, int(325 / h) + 1, int(550 / h) + 1), C), h)
    dt = fwi.stable_dt(vp, space_order=order, safety=safety)
    nt = int(0.5 / dt)
    w = fwi.ricker(F0, dt, nt, dtype=np.float64)
    d = fwi.forward(vp, fwi.Acquisition(src, REC), w, dt, nt, space_order=order, pml_width=12,
                    dtype=np.float64).values[0]
    t = np.arange(nt) * dt
    errs = []
    for k in range(len(REC)):
        r = float(np.linalg.norm(REC[k] - src[0]))
        g = ricker_t(t - r / C, F0, 1.5 / F0) / (4 * np.pi * r)
        errs.append(float(np.linalg.norm(d[k] - g) / np.linalg.norm(g)))
    return errs


def test_order8_matches_the_3d_greens_function_on_and_off_grid():
    errs = greens_errors(8) + greens_errors(8, src=np.array([[166.1, 158.2, 127.7]]))
    assert max(errs) < 0.02, errs


def test_3d_error_falls_with_space_order():
    errs = {p: max(greens_errors(p)) for p in (2, 4, 8)}
    assert errs[2] > errs[4] > errs[8], errs


def test_absorbing_layer_reflects_below_one_percent():
    """A receiver near a side of a small box against the same receiver in a box
    so large that nothing returns in the window: the difference (what the
    layer reflects) is below 1 % of the direct wave."""
    h, order = 12.5, 8
    src, rec = np.array([[150.0, 150.0, 150.0]]), np.array([[150.0, 150.0, 300.0]])
    traces = []
    for extra in (0.0, 400.0):   # the large box extends 400 m beyond the small one on every side
        shape = tuple(int((300 + 2 * extra) / h) + 1 for _ in range(3))
        vp = fwi.as_model(np.full(shape, C), h, origin=(-extra,) * 3)
        dt = fwi.stable_dt(vp, space_order=order, safety=0.5)
        nt = int(0.4 / dt)
        w = fwi.ricker(F0, dt, nt, dtype=np.float64)
        traces.append(fwi.forward(vp, fwi.Acquisition(src, rec), w, dt, nt, space_order=order, pml_width=15,
                                  dtype=np.float64, vmax=C, freq=F0).values[0, 0])
    small, large = traces
    ratio = np.abs(small - large).max() / np.abs(large).max()
    assert ratio < 0.01, ratio


# ----------------------------------------------------------------------------- adjoint
def _geometry():
    acq = fwi.Acquisition(sources=np.array([[40.0, 95.0, 120.0], [60.0, 100.0, 150.0]]),
                          receivers=np.array([[30.0 + 5 * k, 50.0 + 7 * k, 60.0 + 11 * k] for k in range(8)]))
    return acq


@pytest.mark.parametrize("free_surface", [False, True])
def test_3d_dot_product_with_cpml_and_free_surface(rng, free_surface):
    vp = fwi.as_model(2000 + 300 * rng.random((24, 20, 28)), 10.0)
    acq = _geometry()
    kw = dict(space_order=8, pml_width=6, free_surface=free_surface, dtype=np.float64, freq=15.0)
    dt, nt = 0.6 * fwi.stable_dt(vp, space_order=8), 120
    w = rng.standard_normal((2, nt))
    d = fwi.forward(vp, acq, w, dt=dt, nt=nt, **kw).values
    r = rng.standard_normal(d.shape)
    a = fwi.adjoint(vp, acq, r, dt=dt, nt=nt, **kw)
    lhs, rhs = float(np.sum(d * r)), float(np.sum(w * a))
    assert abs(lhs - rhs) < 1e-12 * abs(lhs), (lhs, rhs)


# ----------------------------------------------------------------------------- gradient
def _problem(rng, free_surface=False, dtype=np.float64):
    shape = (22, 18, 26)
    v_true = 2000.0 + 400.0 * gaussian_filter(rng.random(shape), 2)
    v_true = 2000.0 + (v_true - v_true.mean()) * 6
    vp_true = fwi.as_model(v_true, 12.5)
    vp0 = fwi.as_model(gaussian_filter(v_true, 4), 12.5)
    rec = np.array([[15.0, y, x] for y in (60.0, 150.0) for x in np.linspace(20.0, 300.0, 6)])
    acq = fwi.Acquisition(np.array([[20.0, 100.0, 80.0], [20.0, 110.0, 240.0]]), rec)
    dt = 0.6 * fwi.stable_dt(vp_true)
    nt = 160
    w = fwi.ricker(15.0, dt, nt, dtype=np.float64)
    kw = dict(dtype=dtype, freq=15.0, vmax=3500.0, pml_width=6, free_surface=free_surface)
    obs = fwi.forward(vp_true, acq, w, dt, nt, **kw)
    return vp0, acq, w, obs, dt, nt, kw


@pytest.mark.parametrize("misfit,checkpoints,free_surface", [("l2", None, False), ("l2", 4, True),
                                                              ("envelope", None, True)])
def test_3d_taylor_second_order(rng, misfit, checkpoints, free_surface):
    vp0, acq, w, obs, dt, nt, kw = _problem(rng, free_surface)
    J0, g = fwi.gradient(vp0, acq, w, obs, dt, nt, misfit=misfit, checkpoints=checkpoints, **kw)
    dv = gaussian_filter(rng.standard_normal(vp0.shape), 2)
    dv *= 20.0 / np.abs(dv).max()
    slope = float(np.sum(g.values * dv))
    assert slope != 0
    rem = []
    for h in [1.0, 0.5, 0.25, 0.125, 0.0625]:
        Jh = fwi.gradient(vp0 + h * dv, acq, w, obs, dt, nt, misfit=misfit, checkpoints=checkpoints, **kw)[0]
        rem.append(abs(Jh - J0 - h * slope))
    ratios = np.array(rem[:-1]) / np.array(rem[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), ratios


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("free_surface", [False, True])
def test_3d_every_strategy_equals_the_stored_field_gradient(rng, dtype, tol, free_surface):
    vp0, acq, w, obs, dt, nt, kw = _problem(rng, free_surface, dtype)
    J_all, g_all, info = fwi.gradient(vp0, acq, w, obs, dt, nt, checkpoints=nt, return_info=True, **kw)
    assert info["strategy"] == "checkpoint" and info["recompute_factor"] == 1.0
    runs = [dict(strategy="boundary"), dict(checkpoints=3), dict(checkpoints=11)]
    for extra in runs:
        J, g, info = fwi.gradient(vp0, acq, w, obs, dt, nt, return_info=True, **extra, **kw)
        assert info["strategy"] == extra.get("strategy", "checkpoint")
        if "checkpoints" in extra:
            assert info["snapshots"] == extra["checkpoints"] and info["recompute_factor"] > 1.0
        assert J == pytest.approx(J_all, rel=max(tol, 1e-12))
        assert np.linalg.norm(g.values - g_all.values) / np.linalg.norm(g_all.values) < tol, extra


# ----------------------------------------------------------------------------- 3-D against 2-D
def test_3d_model_invariant_in_y_with_a_line_of_sources_approaches_2d(rng):
    """Physics: a line source along y in a y-invariant medium is the 2-D
    problem. Discretely too: on a field constant along y the 3-D stencil's
    Dyy vanishes, so a 3-D model constant along y with identical sources at
    every y grid column (weight h each: a line source of unit density) gives,
    at a receiver in the middle, the 2-D trace of the same (z, x) section to
    rounding until waves from the line's ends (and the y absorbing layer)
    arrive; the line is long enough (1250 m) that they arrive after the
    window. Also: a slab one stencil thick in y runs and stays finite."""
    h = 12.5
    v2 = 2000.0 + 300.0 * gaussian_filter(rng.random((20, 32)), 3)
    ny = 101
    v3 = np.repeat(v2[:, None, :], ny, axis=1)
    src_zx, rec_zx = np.array([25.0, 100.0]), np.array([25.0, 300.0])
    ys = h * np.arange(ny)
    vp2, vp3 = fwi.as_model(v2, h), fwi.as_model(v3, h)
    dt = 0.5 * fwi.stable_dt(vp3)
    nt = int(0.3 / dt)
    w = fwi.ricker(15.0, dt, nt, dtype=np.float64)
    kw = dict(dtype=np.float64, pml_width=10, vmax=2400.0, freq=15.0)
    d2 = fwi.forward(vp2, fwi.Acquisition(src_zx[None], rec_zx[None]), w, dt, nt, **kw).values[0, 0]
    src3 = np.array([[src_zx[0], y, src_zx[1]] for y in ys])
    rec3 = np.array([[rec_zx[0], ys[ny // 2], rec_zx[1]]])
    # all sources fire together: one shot with the summed wavefield = the sum over shots of one-source runs
    d3 = fwi.forward(vp3, fwi.Acquisition(src3, rec3), np.tile(w, (ny, 1)), dt, nt, **kw).values[:, 0].sum(axis=0)
    d3 *= h      # point sources h apart, weight h each: a line source of unit density
    err = np.linalg.norm(d3 - d2) / np.linalg.norm(d2)
    assert err < 1e-9, err
    thin = fwi.as_model(np.repeat(v2[:, None, :], 9, axis=1), h)
    d = fwi.forward(thin, fwi.Acquisition(np.array([[25.0, 50.0, 100.0]]), np.array([[25.0, 50.0, 300.0]])),
                    w, dt, nt, **kw).values
    assert np.isfinite(d).all() and np.abs(d).max() > 0


# ----------------------------------------------------------------------------- checks
def test_3d_prerun_checks_name_the_argument():
    vp = fwi.as_model(np.full((12, 10, 14), 2000.0), 10.0)
    ok = fwi.Acquisition(np.array([[20.0, 50.0, 60.0]]), np.array([[10.0, 40.0, 70.0]]))
    dt, nt = 0.5 * fwi.stable_dt(vp), 20
    w = fwi.ricker(15.0, dt, nt)
    with pytest.raises(ValueError, match="acq: positions have 2 coordinates"):
        fwi.forward(vp, fwi.Acquisition(np.array([[20.0, 60.0]]), np.array([[10.0, 70.0]])), w, dt, nt)
    with pytest.raises(ValueError, match="sources: 1 position"):
        fwi.forward(vp, fwi.Acquisition(np.array([[20.0, 500.0, 60.0]]), np.array([[10.0, 40.0, 70.0]])), w, dt, nt)
    with pytest.raises(ValueError, match="dt"):
        fwi.forward(vp, ok, w, 10 * dt, nt)
    bad = vp.copy(data=vp.values.copy())
    bad.values[3, 3, 3] = -1.0
    with pytest.raises(ValueError, match="vp"):
        fwi.forward(bad, ok, w, dt, nt)


# ----------------------------------------------------------------------------- memory
def test_3d_gradient_memory_is_the_budget_plus_working_fields():
    """A checkpointed 3-D gradient keeps as many snapshots as the budget
    holds, and its peak traced memory is the budget plus a fixed working set
    (fields, compact CPML memory, scratch): tripling the budget adds exactly
    the extra snapshots, nothing else."""
    import tracemalloc
    from fwi_core.engine.options import Options
    from fwi_core.engine.propagation import _prepare
    vp = fwi.as_model(np.full((30, 24, 32), 2000.0), 10.0)
    acq = fwi.Acquisition(np.array([[50.0, 120.0, 150.0]]), np.array([[20.0, 100.0, 50.0], [20.0, 100.0, 250.0]]))
    dt, nt = fwi.stable_dt(vp), 150
    w = fwi.ricker(15.0, dt, nt)
    obs = np.zeros((1, 2, nt), np.float32)
    kw = dict(pml_width=8, vmax=2000.0, freq=15.0)
    st = _prepare(vp, acq, w, dt, nt, Options(**kw))[0]
    field = int(np.prod(st.layout.shape)) * 4
    snap = st.snapshot_bytes()
    assert snap < 4 * field                        # two time levels and the CPML memory of the layer
    fwi.gradient(vp, acq, w, obs, dt, nt, memory_budget=4 * snap, **kw)   # compile outside the trace
    peaks = {}
    for k in (4, 12):
        tracemalloc.start()
        info = fwi.gradient(vp, acq, w, obs, dt, nt, memory_budget=k * snap, return_info=True, **kw)[-1]
        peaks[k] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert info["strategy"] == "checkpoint" and info["snapshots"] == k
        # what each strategy needs is reported: the boundary records exceed this budget, so none are kept
        assert info["snapshot_bytes"] == snap and info["boundary_bytes"] > k * snap
    assert abs(peaks[12] - peaks[4] - 8 * snap) < 0.01 * snap
    assert peaks[4] - 4 * snap < 20 * field        # measured 18.9 fields on this small grid
