"""Taylor tests of dJ/dvp and equality of checkpointed, boundary-rebuilt and stored gradients."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import fwi_core as fwi
from fwi_core.engine.checkpointing import forward_steps


def _problem(rng, free_surface=False):
    v_true = 2000.0 + 400.0 * gaussian_filter(rng.random((40, 50)), 3)
    v_true = 2000.0 + (v_true - v_true.mean()) * 6
    vp_true = fwi.as_model(v_true, 10.0)
    vp0 = fwi.as_model(gaussian_filter(v_true, 6), 10.0)
    acq = fwi.Acquisition(np.array([[20.0, 103.3], [20.0, 397.0]]),
                          np.stack([np.full(12, 15.0), np.linspace(10, 480, 12)], axis=1))
    dt = 0.6 * fwi.stable_dt(vp_true)
    nt = 350
    w = fwi.ricker(15.0, dt, nt, dtype=np.float64)
    kw = dict(dtype=np.float64, freq=15.0, vmax=3500.0, pml_width=10, free_surface=free_surface)
    obs = fwi.forward(vp_true, acq, w, dt, nt, **kw)
    return vp0, acq, w, obs, dt, nt, kw


@pytest.mark.parametrize("free_surface", [False, True])
@pytest.mark.parametrize("checkpoints", [None, 5])
def test_taylor_second_order(rng, free_surface, checkpoints):
    vp0, acq, w, obs, dt, nt, kw = _problem(rng, free_surface)
    J0, g, info = fwi.gradient(vp0, acq, w, obs, dt, nt, checkpoints=checkpoints, return_info=True, **kw)
    assert info["strategy"] == ("boundary" if checkpoints is None else "checkpoint")
    dv = gaussian_filter(rng.standard_normal(vp0.shape), 2)
    dv *= 20.0 / np.abs(dv).max()  # up to 20 m/s at h = 1
    slope = float(np.sum(g.values * dv))
    assert slope != 0
    rem = []
    for h in [1.0, 0.5, 0.25, 0.125, 0.0625]:
        Jh = fwi.gradient(vp0 + h * dv, acq, w, obs, dt, nt, checkpoints=checkpoints, **kw)[0]
        rem.append(abs(Jh - J0 - h * slope))
    ratios = np.array(rem[:-1]) / np.array(rem[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), ratios


def test_checkpointed_gradient_equals_stored(rng):
    vp0, acq, w, obs, dt, nt, kw = _problem(rng)
    kw["dtype"] = np.float32
    J_all, g_all, info_all = fwi.gradient(vp0, acq, w, obs, dt, nt, checkpoints=nt, return_info=True, **kw)
    assert info_all["recompute_factor"] == 1.0
    for n_snap in (1, 3, 17):
        J, g, info = fwi.gradient(vp0, acq, w, obs, dt, nt, checkpoints=n_snap, return_info=True, **kw)
        assert info["snapshots"] == n_snap
        assert info["recompute_factor"] == pytest.approx(forward_steps(nt - 1, n_snap) / (nt - 2))
        assert info["recompute_factor"] > 1.0
        assert J == pytest.approx(J_all, rel=1e-6)
        assert np.linalg.norm(g - g_all) / np.linalg.norm(g_all) < 1e-6


@pytest.mark.parametrize("free_surface", [False, True])
def test_boundary_rebuilt_gradient_equals_stored(rng, free_surface):
    """The forward field rebuilt backwards from its saved boundary gives the
    stored-field gradient: to rounding in float64, below 1e-6 in float32
    (as checkpointing must; measured 3e-7 and 5e-7)."""
    vp0, acq, w, obs, dt, nt, kw = _problem(rng, free_surface)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        kw["dtype"] = dtype
        J_all, g_all = fwi.gradient(vp0, acq, w, obs, dt, nt, checkpoints=nt, **kw)
        J, g, info = fwi.gradient(vp0, acq, w, obs, dt, nt, strategy="boundary", return_info=True, **kw)
        assert info["strategy"] == "boundary" and info["snapshots"] == 0
        assert 1.0 < info["recompute_factor"] < 2.0      # the core share of a step, rebuilt
        assert J == pytest.approx(J_all, rel=tol)
        assert np.linalg.norm(g - g_all) / np.linalg.norm(g_all) < tol


def test_memory_budget_chooses_strategy(rng):
    from fwi_core.engine.adjoint_state import boundary_bytes
    from fwi_core.engine.options import Options
    from fwi_core.engine.propagation import _prepare
    vp0, acq, w, obs, dt, nt, kw = _problem(rng)
    st = _prepare(vp0, acq, w, dt, nt, Options(pml_width=kw["pml_width"], dtype=kw["dtype"], vmax=kw["vmax"],
                                                 freq=kw["freq"]))[0]
    need = boundary_bytes(st)
    info = fwi.gradient(vp0, acq, w, obs, dt, nt, return_info=True, **kw)[-1]
    assert info["strategy"] == "boundary"                  # the default budget holds the records
    info = fwi.gradient(vp0, acq, w, obs, dt, nt, memory_budget=need - 1, return_info=True, **kw)[-1]
    assert info["strategy"] == "checkpoint" and 1 <= info["snapshots"] < nt - 1
    big = fwi.gradient(vp0, acq, w, obs, dt, nt, strategy="checkpoint", return_info=True, **kw)[-1]
    assert big["snapshots"] == nt - 1                      # everything fits the default budget
    small = fwi.gradient(vp0, acq, w, obs, dt, nt, memory_budget=3_000_000, strategy="checkpoint",
                         return_info=True, **kw)[-1]
    assert 1 <= small["snapshots"] < nt - 1
    with pytest.raises(ValueError, match="memory_budget"):
        fwi.gradient(vp0, acq, w, obs, dt, nt, memory_budget=1000, **kw)
    with pytest.raises(ValueError, match="memory_budget"):
        fwi.gradient(vp0, acq, w, obs, dt, nt, memory_budget=need - 1, strategy="boundary", **kw)
    with pytest.raises(ValueError, match="checkpoints"):
        fwi.gradient(vp0, acq, w, obs, dt, nt, checkpoints=5, strategy="boundary", **kw)
    with pytest.raises(ValueError, match="strategy"):
        fwi.gradient(vp0, acq, w, obs, dt, nt, strategy="revolve", **kw)


def test_gradient_returns_synthetics_and_illumination(rng):
    vp0, acq, w, obs, dt, nt, kw = _problem(rng)
    J, g, illum, info = fwi.gradient(vp0, acq, w, obs, dt, nt, illumination=True, return_info=True, **kw)
    d = fwi.forward(vp0, acq, w, dt, nt, **kw).values
    np.testing.assert_allclose(info["synthetic"], d, rtol=0, atol=1e-12 * np.abs(d).max())
    assert J == pytest.approx(0.5 * np.sum((d - obs.values) ** 2) * dt, rel=1e-10)
    assert illum.dims == ("z", "x") and np.all(illum.values >= 0) and illum.values.max() > 0
    assert g.dims == ("z", "x") and g.name == "gradient"


def test_peak_memory_grows_with_snapshots_not_with_nt():
    import tracemalloc
    vp = fwi.as_model(np.full((200, 300), 2000.0), 10.0)
    acq = fwi.Acquisition(np.array([[20.0, 1400.0]]), np.array([[20.0, 100.0], [20.0, 2700.0]]))
    dt = fwi.stable_dt(vp)

    def peak(nt, checkpoints):
        w = fwi.ricker(15.0, dt, nt)
        obs = np.zeros((1, 2, nt), np.float32)
        fwi.gradient(vp, acq, w, obs, dt, nt, checkpoints=checkpoints)  # compile outside the trace
        tracemalloc.start()
        fwi.gradient(vp, acq, w, obs, dt, nt, checkpoints=checkpoints)
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return p

    from fwi_core.engine.grid import Layout
    field = int(np.prod(Layout((200, 300), 20, False).shape)) * 4  # bytes of one padded float32 field
    short, long_ = peak(300, 8), peak(2400, 8)
    assert long_ - short < field                 # 8x the steps: not even one more wavefield
    many = peak(300, 40)
    assert many - short > 32 * 2 * field * 0.9   # 32 more snapshots of two wavefields each


def test_boundary_strategy_memory_is_the_records_and_a_few_fields():
    import tracemalloc
    from fwi_core.engine.adjoint_state import boundary_bytes
    from fwi_core.engine.grid import Layout
    from fwi_core.engine.options import Options
    from fwi_core.engine.propagation import _prepare
    vp = fwi.as_model(np.full((200, 300), 2000.0), 10.0)
    acq = fwi.Acquisition(np.array([[20.0, 1400.0]]), np.array([[20.0, 100.0], [20.0, 2700.0]]))
    dt, nt = fwi.stable_dt(vp), 600
    w = fwi.ricker(15.0, dt, nt)
    obs = np.zeros((1, 2, nt), np.float32)
    field = int(np.prod(Layout((200, 300), 20, False).shape)) * 4
    records = boundary_bytes(_prepare(vp, acq, w, dt, nt, Options())[0])
    assert records < 0.5 * (nt - 2) * field        # less than half of every field stored
    fwi.gradient(vp, acq, w, obs, dt, nt)          # compile outside the trace
    fwi.release_workspace()                        # the records are allocated again, inside the trace
    tracemalloc.start()
    fwi.gradient(vp, acq, w, obs, dt, nt)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert records < peak < records + 20 * field


@pytest.mark.parametrize("nz, nx, pml, free_surface, order", [
    (40, 50, 0, False, 8),    # no absorbing layer: the core is everything, nothing saved
    (40, 50, 0, True, 4),     # free surface, no layer
    (12, 14, 10, False, 8),   # layer wider than the model: no core, everything saved
    (30, 90, 5, True, 2),
])
def test_boundary_rebuild_edge_cases(rng, nz, nx, pml, free_surface, order):
    v = 2000 + 300 * rng.random((nz, nx))
    vp = fwi.as_model(v, 10.0)
    acq = fwi.Acquisition(np.array([[20.0, 103.3], [30.0, 50.0]]),
                          np.stack([np.full(5, 15.0), np.linspace(10, (nx - 1) * 10 - 10, 5)], axis=1))
    dt, nt = 0.6 * fwi.stable_dt(vp, space_order=order), 200
    w = fwi.ricker(15.0, dt, nt, dtype=np.float64)
    kw = dict(dtype=np.float64, freq=15.0, vmax=2400.0, pml_width=pml, free_surface=free_surface,
              space_order=order)
    obs = fwi.forward(fwi.as_model(v * 1.02, 10.0), acq, w, dt, nt, **kw)
    J_all, g_all = fwi.gradient(vp, acq, w, obs, dt, nt, checkpoints=nt, **kw)
    J, g = fwi.gradient(vp, acq, w, obs, dt, nt, strategy="boundary", **kw)
    assert J == pytest.approx(J_all, rel=1e-12)
    assert np.linalg.norm(g - g_all) / np.linalg.norm(g_all) < 1e-12
