"""Tests of fwi_core.misfits: adjoint sources by finite differences and Taylor
tests, minima, W2 convexity in time shift, traveltime shift recovery."""
from __future__ import annotations

import numpy as np
import pytest

from fwi_core.traces import misfits as M

DT = 0.002
NT = 300
F0 = 10.0  # Ricker peak frequency, Hz (period 0.1 s = 50 samples)
ALL = ["l2", "l1", "huber", "wasserstein", "traveltime", "envelope", "ncc"]

# (name, params): every registered misfit with defaults, plus its parameter variants
CASES = [(n, {}) for n in ALL] + [
    ("l1", {"eps": 0.05, "relative": False}),
    ("huber", {"threshold": 0.02, "relative": False}),
    ("wasserstein", {"transform": "exp", "beta": 5.0}),
    ("wasserstein", {"transform": "softplus", "beta": 2.0}),
    ("traveltime", {"max_lag": 0.05}),
]


def ricker(f: float, dt: float, nt: int, t0: float) -> np.ndarray:
    t = np.arange(nt) * dt - t0
    a = (np.pi * f * t) ** 2
    return (1 - 2 * a) * np.exp(-a)


def traces(seed: int = 0, noise: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Observed: one dominant Ricker arrival per trace, plus a weaker later one;
    synthetic: the same, shifted by a few samples, rescaled, plus noise.
    Shape (2 shots, 3 receivers, NT)."""
    rng = np.random.default_rng(seed)
    obs = np.zeros((2, 3, NT))
    syn = np.zeros((2, 3, NT))
    for i in range(2):
        for j in range(3):
            t0 = 0.15 + 0.05 * j + 0.02 * i
            shift = rng.uniform(-0.012, 0.012)
            obs[i, j] = ricker(F0, DT, NT, t0) + 0.3 * ricker(F0, DT, NT, t0 + 0.2)
            syn[i, j] = 1.2 * ricker(F0, DT, NT, t0 + shift) + 0.25 * ricker(F0, DT, NT, t0 + 0.21 + shift)
    syn += noise * rng.standard_normal(syn.shape)
    return syn, obs


def direction(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def case_id(c: tuple[str, dict]) -> str:
    return c[0] + ("-" + "-".join(f"{k}={v}" for k, v in c[1].items()) if c[1] else "")


def test_registry_names_and_lookup():
    assert set(ALL) <= set(M.names())
    for n in ALL:
        assert callable(M.get(n))
    f = lambda s, o, dt: (0.0, np.zeros_like(s))  # noqa: E731
    assert M.get(f) is f
    with pytest.raises(ValueError, match="misfit"):
        M.get("nope")


def test_every_registered_misfit_is_fd_tested():
    assert set(M.names()) <= {c[0] for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_adjoint_source_central_difference(case):
    name, params = case
    f = M.get(name, **params)
    syn, obs = traces()
    ds = direction(syn.shape)
    J, adj = f(syn, obs, DT)
    assert adj.shape == syn.shape and adj.dtype == np.float64
    h = 1e-6
    fd = (f(syn + h * ds, obs, DT)[0] - f(syn - h * ds, obs, DT)[0]) / (2 * h)
    an = float(np.sum(adj * ds))
    assert abs(an) > 0
    assert abs(fd - an) / abs(an) < 1e-6, (fd, an)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_taylor_remainder_is_second_order(case):
    name, params = case
    f = M.get(name, **params)
    syn, obs = traces(seed=3)
    ds = direction(syn.shape, seed=4)
    J, adj = f(syn, obs, DT)
    g = float(np.sum(adj * ds))
    hs = 1e-3 * 0.5 ** np.arange(5)
    rem = np.array([abs(f(syn + h * ds, obs, DT)[0] - J - h * g) for h in hs])
    ratios = rem[:-1] / rem[1:]
    assert np.all(np.abs(ratios - 4.0) < 0.4), ratios


@pytest.mark.parametrize("name", ALL)
def test_zero_at_match_nonnegative_and_stationary(name):
    f = M.get(name)
    syn, obs = traces(seed=5)
    J, _ = f(syn, obs, DT)
    assert J > 0
    J0, adj0 = f(obs, obs, DT)
    assert 0.0 <= J0 <= 1e-12 * J  # zero up to rounding
    np.testing.assert_allclose(adj0, 0.0, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_float32_in_float32_adj_out_and_dead_traces(name):
    f = M.get(name)
    syn, obs = traces(seed=6)
    syn[0, 1] = 0.0  # dead synthetic trace
    obs[1, 2] = 0.0  # dead observed trace
    J64, adj64 = f(syn, obs, DT)
    J32, adj32 = f(syn.astype(np.float32), obs.astype(np.float32), DT)
    assert adj32.dtype == np.float32 and adj32.shape == syn.shape
    assert np.isfinite(J64) and np.all(np.isfinite(adj64))
    assert J32 == pytest.approx(J64, rel=1e-4)
    np.testing.assert_allclose(adj32, adj64, rtol=1e-3, atol=1e-4 * np.abs(adj64).max())
    Jz, adjz = f(np.zeros((2, NT)), np.zeros((2, NT)), DT)
    assert Jz == 0.0 and np.all(adjz == 0)


def test_argument_validation():
    syn, obs = traces()
    with pytest.raises(ValueError, match="obs"):
        M.get("l2")(syn, obs[..., :-1], DT)
    with pytest.raises(ValueError, match="dt"):
        M.get("l1")(syn, obs, 0.0)
    with pytest.raises(ValueError, match="foo"):
        M.get("huber", foo=1.0)
    with pytest.raises(ValueError, match="threshold"):
        M.get("huber", threshold=-1.0)
    with pytest.raises(ValueError, match="eps"):
        M.get("l1", eps=0.0)
    with pytest.raises(ValueError, match="transform"):
        M.get("wasserstein", transform="square")
    with pytest.raises(ValueError, match="beta"):
        M.get("wasserstein", beta=-2.0)
    with pytest.raises(ValueError, match="adjoint"):
        M.get("traveltime", adjoint="adjoint-state")
    with pytest.raises(ValueError, match="max_lag"):
        M.get("traveltime", max_lag=0.0)


def test_bound_parameters_are_used():
    syn, obs = traces()
    J1, _ = M.get("huber", threshold=0.05)(syn, obs, DT)
    J2, _ = M.huber(syn, obs, DT, threshold=0.05)
    J3, _ = M.get("huber")(syn, obs, DT)
    assert J1 == J2 and J1 != J3


def test_l1_and_huber_formulas():
    syn = np.array([[0.0, 3.0, -0.5, 0.2]])
    obs = np.zeros_like(syn)
    # Huber, absolute threshold 1: 0 + 1*(3-0.5) + 0.5*0.25 + 0.5*0.04, times dt
    J, adj = M.huber(syn, obs, DT, threshold=1.0, relative=False)
    assert J == pytest.approx((2.5 + 0.125 + 0.02) * DT)
    np.testing.assert_allclose(adj, [[0.0, 1.0, -0.5, 0.2]] * np.array(DT))
    # tiny eps: smoothed L1 tends to sum|r| dt
    J, _ = M.l1(syn, obs, DT, eps=1e-9, relative=False)
    assert J == pytest.approx(3.7 * DT, rel=1e-8)
    # huber is L2 when every residual is below the threshold
    s, o = traces()
    assert M.huber(s, o, DT, threshold=1e3, relative=False)[0] == pytest.approx(M.l2(s, o, DT)[0])


def test_ncc_is_amplitude_insensitive():
    _, obs = traces()
    assert M.ncc(2.5 * obs, obs, DT)[0] == pytest.approx(0.0, abs=1e-12)
    assert M.ncc(-obs, obs, DT)[0] == pytest.approx(2.0 * 6)
    assert M.l2(2.5 * obs, obs, DT)[0] > 0


def _shift_scan(misfit: str, **params) -> tuple[np.ndarray, np.ndarray]:
    """Misfit of a Ricker shifted over +-1 period (0.1 s) against the unshifted one."""
    nt, t0 = 500, 0.5
    shifts = np.linspace(-1.0 / F0, 1.0 / F0, 81)
    obs = ricker(F0, DT, nt, t0)[None]
    f = M.get(misfit, **params)
    J = np.array([f(ricker(F0, DT, nt, t0 + s)[None], obs, DT)[0] for s in shifts])
    return shifts, J


def _monotone_away_from_zero(shifts: np.ndarray, J: np.ndarray) -> bool:
    i0 = int(np.argmin(np.abs(shifts)))
    return bool(np.all(np.diff(J[i0:]) > 0) and np.all(np.diff(J[: i0 + 1]) < 0))


@pytest.mark.parametrize("params", [{}, {"transform": "exp"}])
def test_wasserstein_is_convex_in_time_shift_where_l2_is_not(params):
    shifts, J = _shift_scan("wasserstein", **params)
    assert _monotone_away_from_zero(shifts, J)
    assert np.all(np.diff(J, 2) > 0)  # convex over +-1 period: no local minima
    shifts, J2 = _shift_scan("l2")
    assert not _monotone_away_from_zero(shifts, J2)  # L2 has side extrema (cycle skip)


def test_traveltime_recovers_subsample_shift():
    rng = np.random.default_rng(7)
    true = np.array([[0.0137, -0.0211, 0.0049], [-0.0003, 0.0301, -0.0409]])  # s
    obs = np.stack([[ricker(F0, DT, 600, 0.4) for _ in range(3)] for _ in range(2)])
    syn = np.stack([[ricker(F0, DT, 600, 0.4 + true[i, j]) for j in range(3)] for i in range(2)])
    dT = M.cross_correlation_shift(syn, obs, DT)
    assert dT.shape == (2, 3)
    assert np.all(np.abs(dT - true) < 0.1 * DT)
    noisy = syn + 0.01 * rng.standard_normal(syn.shape)  # 1 % white noise
    assert np.all(np.abs(M.cross_correlation_shift(noisy, obs, DT) - true) < 0.1 * DT)
    J, _ = M.traveltime(syn, obs, DT)
    assert J == pytest.approx(0.5 * np.sum(true ** 2), rel=1e-3)
    # max_lag bounds the search
    assert np.all(np.abs(M.cross_correlation_shift(syn, obs, DT, max_lag=0.01)) <= 0.01 + DT)


def test_traveltime_luo_schuster_equals_implicit_for_pure_shift():
    obs = np.stack([ricker(F0, DT, 600, 0.4), ricker(F0, DT, 600, 0.3)])
    syn = np.stack([ricker(F0, DT, 600, 0.4137), ricker(F0, DT, 600, 0.2871)])
    J1, a1 = M.traveltime(syn, obs, DT)
    J2, a2 = M.traveltime(syn, obs, DT, adjoint="luo-schuster")
    assert J1 == J2
    np.testing.assert_allclose(a2, a1, atol=1e-6 * np.abs(a1).max())
    # and the adjoint of a delayed synthetic is -dT * dsyn/dt / sum(dsyn/dt**2)
    sd = np.gradient(syn, DT, axis=-1)
    ls = -(M.cross_correlation_shift(syn, obs, DT)[:, None]) * sd / np.sum(sd ** 2, axis=-1, keepdims=True)
    np.testing.assert_allclose(a1, ls, atol=1e-2 * np.abs(a1).max())


def test_hilbert_is_skew_symmetric():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((2, 3, 101))
    Hx, Hy = M._hilbert(x), M._hilbert(y)
    assert np.sum(Hx * y) == pytest.approx(-np.sum(x * Hy), rel=1e-12)
    # Hilbert transform of cos is sin (away from the ends)
    t = np.arange(400) * DT
    h = M._hilbert(np.cos(2 * np.pi * 25 * t))
    np.testing.assert_allclose(h[100:300], np.sin(2 * np.pi * 25 * t)[100:300], atol=0.05)
