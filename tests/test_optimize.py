"""Search directions, step selection, projection, state round trip."""
import numpy as np
import xarray as xr

from fwi_core import artifacts
from fwi_core.inversion import optimize


def _quadratic(n=30, seed=0):
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(n, n))
    A = Q @ Q.T / n + np.diag(np.linspace(0.1, 5, n))
    x_star = rng.normal(size=n)
    f = lambda x: 0.5 * (x - x_star) @ A @ (x - x_star)
    g = lambda x: A @ (x - x_star)
    return A, x_star, f, g


def _exact_line(A, x_star, x, d):
    return -(d @ A @ (x - x_star)) / (d @ A @ d)


def _solve(method, iters=25):
    A, x_star, f, g = _quadratic()
    x = np.zeros_like(x_star)
    prev = None
    ident = lambda v: v
    for _ in range(iters):
        d, prev = optimize.direction(method, g(x), ident, x, prev, memory=10)
        assert d @ g(x) < 0
        x = x + _exact_line(A, x_star, x, d) * d
    return f(x)


def test_directions_converge_and_order():
    f_sd, f_cg, f_lb = _solve("sd"), _solve("nlcg"), _solve("lbfgs")
    assert f_cg < 1e-3 * f_sd
    assert f_lb < 1e-3 * f_sd


def test_preconditioner_used_as_initial_hessian():
    A, x_star, f, g = _quadratic()
    Dinv = 1.0 / np.diag(A)
    d, st = optimize.direction("lbfgs", g(np.zeros(30)), lambda v: Dinv * v, np.zeros(30))
    np.testing.assert_allclose(d, -Dinv * g(np.zeros(30)))
    assert st["restarted"]


def test_reset_keeps_step_scale_and_drops_history():
    A, x_star, f, g = _quadratic()
    x = np.zeros(30)
    _, st = optimize.direction("lbfgs", g(x), lambda v: v, x)
    x1 = x - 0.1 * g(x)
    _, st1 = optimize.direction("lbfgs", g(x1), lambda v: v, x1, st)
    assert len(st1["s"]) == 1
    d2, st2 = optimize.direction("lbfgs", g(x1), lambda v: v, x1, st1, step_scale=0.25, reset=True)
    assert st2["s"] == [] and st2["step_scale"] == 0.25
    np.testing.assert_allclose(d2, -g(x1))


def test_select_step_rules():
    # Armijo: smallest misfit among sufficient-decrease trials
    r = optimize.select_step(10.0, -5.0, [0.5, 1.0, 2.0], [8.0, 7.0, 9.0])
    assert r["status"] == "armijo" and r["alpha"] == 1.0 and r["factor"] == 1.0
    r = optimize.select_step(10.0, -5.0, [0.5, 1.0, 2.0], [8.0, 7.0, 6.0])
    assert r["alpha"] == 2.0 and r["factor"] == 2.0
    # decrease without sufficient decrease
    r = optimize.select_step(10.0, -100.0, [0.5, 1.0, 2.0], [9.99, 11.0, 12.0], c1=0.5)
    assert r["status"] == "decrease" and r["alpha"] == 0.5
    # failure: clear message, no step
    r = optimize.select_step(10.0, -1.0, [0.5, 1.0, 2.0], [11.0, 12.0, np.nan])
    assert r["status"] == "failed" and r["alpha"] == 0.0 and "LINE SEARCH FAILED" in r["message"]
    assert optimize.next_step_scale(1.0, r, shrink=0.25) == 0.25


def test_reference_step_and_projection():
    vp = np.full((4, 5), 2000.0)
    d = np.zeros((4, 5))
    d[1, 2] = 10.0
    st = {"method": "sd", "step_scale": 1.0}
    a = optimize.reference_step(d, vp, st, [0.5, 1, 2], first_change=0.05, max_change=0.5)
    assert np.isclose(np.max(np.abs(a * d) / vp), 0.05)
    a = optimize.reference_step(d, vp, st, [0.5, 1, 2], first_change=0.05, max_change=0.06)
    assert np.isclose(np.max(np.abs(2 * a * d) / vp), 0.06)  # largest trial capped
    mask = np.ones((4, 5))
    mask[0] = 0
    vp[0] = 1000.0
    new = optimize.update_model(vp, np.full((4, 5), 1e4), 1.0, (1500, 3000), mask)
    assert np.all(new[0] == 1000.0) and np.all(new[1:] == 3000.0)


def test_state_roundtrip_zarr(tmp_path):
    like = xr.DataArray(np.zeros((3, 4)), dims=("z", "x"), coords={"z": np.arange(3.0), "x": np.arange(4.0)})
    rng = np.random.default_rng(1)
    for n in (0, 2):
        st = {"method": "lbfgs", "model": rng.normal(size=(3, 4)), "gradient": rng.normal(size=(3, 4)),
              "pgradient": rng.normal(size=(3, 4)), "direction": rng.normal(size=(3, 4)),
              "s": [rng.normal(size=(3, 4)) for _ in range(n)], "y": [rng.normal(size=(3, 4)) for _ in range(n)],
              "step_scale": 0.5, "restarted": False, "slope": -1.0}
        p = tmp_path / f"s{n}.zarr"
        artifacts.write(optimize.state_to_dataset(st, like), p)
        back = optimize.state_from_dataset(artifacts.open_dataset(p))
        for k in ("model", "gradient", "pgradient", "direction"):
            np.testing.assert_array_equal(back[k], st[k])
        assert len(back["s"]) == n
        for a, b in zip(back["s"], st["s"]):
            np.testing.assert_array_equal(a, b)
        assert back["step_scale"] == 0.5 and back["method"] == "lbfgs"
