"""Search directions (steepest descent, nonlinear CG, L-BFGS), the fixed-trial
line search rule, and bound projection. Pure functions over numpy arrays.

Optimiser state is a plain dict (arrays + scalars) that round-trips through an
``xr.Dataset`` (:func:`state_to_dataset` / :func:`state_from_dataset`) so the
pipeline stores it as an artifact of each iteration and a resumed run
continues exactly.

State keys: ``method``, ``model`` m_k, ``gradient`` g_k, ``pgradient`` P(g_k),
``direction`` d_k, ``s``/``y`` (L-BFGS pairs, oldest first, lists of arrays),
``step_scale`` (multiplier of the reference step, adapted by the line search),
``alpha_ref`` and ``slope`` (g_k . d_k).

Line search (fixed trials, static DAG): trial steps are ``c * alpha_ref`` for
the configured factors ``c``. ``alpha_ref`` makes the largest relative model
change ``max|alpha d / vp|`` equal to ``first_change``; for L-BFGS with
curvature pairs it is the natural step 1. Either is multiplied by ``step_scale``,
which follows the accepted trial factor (x2 when the largest trial wins).
No trial may change the model by more than ``max_change``. :func:`select_step`
picks the trial with the lowest misfit among those meeting the Armijo
condition ``J(a) <= J0 + c1 * a * slope``; failing that, the lowest misfit
below J0 (flagged); failing that, no step (the model is kept, the optimiser
history is reset and the next reference step shrinks).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import xarray as xr

METHODS = ("sd", "nlcg", "lbfgs")


def _dot(a, b) -> float:
    return float(np.dot(np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)))


def direction(method: str, g: np.ndarray, precond: Callable[[np.ndarray], np.ndarray],
              model: np.ndarray, prev: dict | None = None, memory: int = 5,
              nlcg_beta: str = "pr", step_scale: float | None = None,
              reset: bool = False) -> tuple[np.ndarray, dict]:
    """Search direction d_k and the new optimiser state.

    ``prev`` is the state returned at the previous iteration of the same band
    (``None`` at a band's first iteration). ``reset`` drops the history (after a
    failed line search); ``step_scale`` overrides the carried reference-step multiplier.
    """
    if method not in METHODS:
        raise ValueError(f"optimizer.method: {method!r} is not allowed; allowed values: {', '.join(METHODS)}")
    g = np.asarray(g, np.float64)
    model = np.asarray(model, np.float64)
    pg = precond(g)
    s_list: list[np.ndarray] = []
    y_list: list[np.ndarray] = []
    if step_scale is None:
        step_scale = 1.0 if prev is None else float(prev.get("step_scale", 1.0))
    if reset:
        prev = None
    restarted = prev is None
    d = -pg
    if prev is not None and method == "nlcg":
        g0, pg0, d0 = prev["gradient"], prev["pgradient"], prev["direction"]
        den = _dot(g0, pg0)
        if nlcg_beta == "fr":
            beta = _dot(g, pg) / den if den else 0.0
        elif nlcg_beta == "hs":
            yk = g - g0
            dy = _dot(d0, yk)
            beta = _dot(pg, yk) / dy if dy else 0.0
        else:  # Polak-Ribiere+
            beta = _dot(pg, g - g0) / den if den else 0.0
        beta = max(0.0, beta)
        d = -pg + beta * d0
    elif prev is not None and method == "lbfgs":
        s_list = [np.asarray(a, np.float64) for a in prev.get("s", [])]
        y_list = [np.asarray(a, np.float64) for a in prev.get("y", [])]
        s_new = model - prev["model"]
        y_new = g - prev["gradient"]
        sy = _dot(s_new, y_new)
        if sy > 1e-12 * np.sqrt(_dot(s_new, s_new) * _dot(y_new, y_new)) and sy > 0:
            s_list.append(s_new)
            y_list.append(y_new)
        s_list, y_list = s_list[-memory:], y_list[-memory:]
        if s_list:
            d = -lbfgs_two_loop(g, s_list, y_list, precond)
    if _dot(d, g) >= 0:  # not a descent direction: restart
        d, s_list, y_list, restarted = -pg, [], [], True
    state = {
        "method": method,
        "model": model,
        "gradient": g,
        "pgradient": pg,
        "direction": d,
        "s": s_list,
        "y": y_list,
        "step_scale": step_scale,
        "restarted": bool(restarted),
        "slope": _dot(g, d),
    }
    return d, state


def lbfgs_two_loop(g, s_list, y_list, precond) -> np.ndarray:
    """H_k g by the two-loop recursion with H0 = gamma * P (pairs oldest first)."""
    q = np.array(g, np.float64)
    alphas = []
    for s, y in zip(reversed(s_list), reversed(y_list)):
        rho = 1.0 / _dot(y, s)
        a = rho * _dot(s, q)
        q -= a * y
        alphas.append((rho, a))
    s, y = s_list[-1], y_list[-1]
    py = precond(y)
    ypy = _dot(y, py)
    gamma = _dot(s, y) / ypy if ypy > 0 else 1.0
    r = gamma * precond(q)
    for (s, y), (rho, a) in zip(zip(s_list, y_list), reversed(alphas)):
        b = rho * _dot(y, r)
        r += s * (a - b)
    return r


def reference_step(d: np.ndarray, vp: np.ndarray, state: dict, trials, first_change: float,
                   max_change: float) -> float:
    """alpha_ref of this iteration (trial steps are ``c * alpha_ref``)."""
    rel = float(np.max(np.abs(d) / np.asarray(vp, np.float64)))
    if rel == 0 or not np.isfinite(rel):
        return 0.0
    base = 1.0 if (state["method"] == "lbfgs" and state.get("s")) else first_change / rel
    alpha = state.get("step_scale", 1.0) * base
    alpha_cap = max_change / (max(trials) * rel)
    return float(min(alpha, alpha_cap))


def trial_steps(alpha_ref: float, trials) -> list[float]:
    return [float(c) * alpha_ref for c in trials]


def project(vp: np.ndarray, bounds) -> np.ndarray:
    lo, hi = bounds
    return np.clip(vp, lo, hi)


def update_model(vp: np.ndarray, d: np.ndarray, alpha: float, bounds, mask: np.ndarray | None = None,
                 dtype=None) -> np.ndarray:
    """vp + alpha d projected on [lo, hi]; cells with mask == 0 keep their value."""
    vp = np.asarray(vp)
    out = project(vp.astype(np.float64) + alpha * np.asarray(d, np.float64), bounds)
    if mask is not None:
        out = np.where(np.asarray(mask) > 0, out, vp)
    return out.astype(dtype or vp.dtype)


def select_step(J0: float, slope: float, alphas, J_trials, c1: float = 1e-4) -> dict:
    """Choose the step from misfits at the fixed trial steps (see module docstring).

    Returns ``{"alpha", "J", "index", "status", "message", "factor"}`` where
    status is ``"armijo"``, ``"decrease"`` (misfit decreased without sufficient
    decrease) or ``"failed"``; ``factor`` multiplies the next reference step.
    """
    alphas = [float(a) for a in alphas]
    J_trials = [float(j) for j in J_trials]
    ok = [i for i, (a, j) in enumerate(zip(alphas, J_trials))
          if np.isfinite(j) and j <= J0 + c1 * a * slope]
    trials_txt = ", ".join(f"J({a:.4g})={j:.6g}" for a, j in zip(alphas, J_trials))
    ref = alphas[len(alphas) // 2] if len(alphas) > 1 else alphas[0]
    if ok:
        i = min(ok, key=lambda k: (J_trials[k], k))
        status = "armijo"
        msg = f"accepted step {alphas[i]:.4g} (Armijo): J0={J0:.6g} -> {J_trials[i]:.6g}"
    else:
        dec = [i for i, j in enumerate(J_trials) if np.isfinite(j) and j < J0]
        if dec:
            i = min(dec, key=lambda k: (J_trials[k], k))
            status = "decrease"
            msg = (f"accepted step {alphas[i]:.4g} without sufficient decrease (Armijo c1={c1}): "
                   f"J0={J0:.6g} -> {J_trials[i]:.6g}")
        else:
            return {"alpha": 0.0, "J": float(J0), "index": -1, "status": "failed", "factor": None,
                    "message": (f"LINE SEARCH FAILED: no trial step decreased the misfit (J0={J0:.6g}; "
                                f"{trials_txt}). The model is kept, the optimiser history is reset and "
                                "the next reference step shrinks. If this repeats, lower "
                                "line_search.first_change, check the band (cycle skipping?) or the bounds.")}
    return {"alpha": alphas[i], "J": J_trials[i], "index": i, "status": status,
            "factor": alphas[i] / ref if ref > 0 else 1.0, "message": msg + f" [{trials_txt}]"}


def next_step_scale(prev_scale: float, result: dict, shrink: float = 0.25, grow: float = 2.0,
                    lo: float = 1e-4, hi: float = 1e4) -> float:
    """Adapt the reference-step multiplier from the line search result."""
    if result["status"] == "failed":
        f = shrink
    else:
        f = min(max(result["factor"], shrink), grow)
    return float(np.clip(prev_scale * f, lo, hi))


# ----------------------------------------------------------------------------- state I/O
_ARRAYS = ("model", "gradient", "pgradient", "direction")
#: Stored names of the L-BFGS pairs s and y ("y" alone would clash with the y axis of 3-D models).
_PAIRS = {"s": "lbfgs_s", "y": "lbfgs_y"}


def state_to_dataset(state: dict, like: xr.DataArray) -> xr.Dataset:
    dims = like.dims
    data = {k: (dims, np.asarray(state[k], np.float64)) for k in _ARRAYS}
    n = len(state.get("s", []))
    shape = (n,) + like.shape
    for k, name in _PAIRS.items():
        data[name] = (("pair",) + dims, np.asarray(state[k], np.float64).reshape(shape) if n else np.zeros(shape))
    ds = xr.Dataset(data, coords=like.coords)
    ds.attrs.update({k: state[k] for k in state if k not in _ARRAYS + ("s", "y")})
    ds.attrs["n_pairs"] = n
    return ds


def state_from_dataset(ds: xr.Dataset) -> dict:
    st = {k: ds[k].values for k in _ARRAYS}
    n = int(ds.attrs.get("n_pairs", 0))
    for k, name in _PAIRS.items():
        v = ds[name if name in ds else k].values   # stores written before the rename hold "s" and "y"
        st[k] = [v[i] for i in range(n)]
    st.update({k: v for k, v in ds.attrs.items() if k not in ("n_pairs",)})
    return st
