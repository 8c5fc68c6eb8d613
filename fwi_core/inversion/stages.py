"""The stage functions of an iteration, one per pipeline job (see
:mod:`fwi_core.inversion`): shot gradients, their sum and preconditioner, the
search direction, the trial forwards and the line-search update."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import xarray as xr

from .. import engine
from ..traces import misfits
from . import bandgrid, optimize
from . import conditioning as cond_mod
from . import precondition as precond_mod
from .band import band_conditioning, band_grid_of, band_model, engine_options, engine_threads, live_traces
from .diagnostics import cycle_skip_risk, merge_risks, risk_from_dataset, risk_to_dataset

def _sel(arr, shots):
    a = arr.values if isinstance(arr, xr.DataArray) else np.asarray(arr)
    return a[list(shots)]


def _live(d_obs, acq, s: int) -> np.ndarray | None:
    """Shot ``s``'s live traces (:func:`live_traces`); None if all."""
    live = live_traces(acq, d_obs)[s]
    return None if live.all() else live


def _shot_wavelet(w: xr.DataArray, shot: int) -> np.ndarray:
    return w.values if w.ndim == 1 else w.values[shot]


def map_shots(task: Callable[[int, dict], Any], shots: Sequence[int], n_points: int,
              num_threads: int | None = None) -> list:
    """``[task(s, run) for s in shots]`` on ``num_threads`` threads.

    With at least as many shots as threads each thread runs whole shots
    (:func:`fwi_core.engine.shots.run_shots`: fixed assignment, no per-step
    synchronisation), else one shot at a time with the grid split across the
    threads. ``run`` holds the keywords the task passes to
    ``fwi.forward``/``fwi.gradient``: ``num_threads`` (1 inside a
    shot-per-thread worker) and ``memory_budget`` (bytes, shared by the shots
    running at once; ``fwi.gradient`` only). Results come back in shot order,
    so sums over them are bitwise independent of the thread count.
    ``n_points``: grid size (points), used to keep tiny grids serial.
    """
    shots = list(shots)
    n = engine_threads(num_threads)
    workers = engine.shot_workers(len(shots), n)
    run = {"num_threads": 1 if workers > 1 else n, "memory_budget": engine.DEFAULT_MEMORY_BUDGET // workers}
    return engine.run_shots(lambda i, _: task(shots[i], run), len(shots), int(n_points), n)


def shot_gradients(vp: xr.DataArray, acq, wavelet: xr.DataArray, d_obs: xr.DataArray,
                   shots: Sequence[int], sim: dict | None = None, misfit="l2",
                   log: Callable[[str], None] | None = None, *, vmax: float,
                   num_threads: int | None = None, conditioning: dict | None = None) -> xr.Dataset:
    """Forward + adjoint of each shot of a group: misfit per shot, summed gradient and illumination.

    ``vmax`` (m/s): the run's upper velocity bound, the CPML reference of the
    band (see :func:`engine_options`), the same in :func:`shot_trials`.
    ``num_threads``: threads of the job (:func:`map_shots`; None: all).
    ``conditioning``: the band's data conditioning (masks, normalisation,
    :func:`fwi_core.inversion.conditioning.band_spec`), applied inside the misfit.
    Traces masked in ``acq.mask`` or in the data's trace mask
    (:func:`fwi_core.artifacts.trace_mask`: padded receiver slots, dead
    traces) contribute exactly zero to the misfit, the gradient and the
    illumination, and are not live in the cycle-skipping risk.
    Returns a Dataset: ``misfit`` (shot,), ``gradient`` and ``illumination``
    (dims of ``vp``, float64, summed over the shots in shot order), and the
    cycle-skipping risk of the band's ``fmax`` on the (masked) data:
    ``shift`` (s) and ``live`` (shot, receiver), attrs ``cycle_skip_fraction``,
    ``n_live``, ``n_skipped``, ``half_period``, ``fmax``
    (:func:`fwi_core.inversion.diagnostics.risk_to_dataset`).
    """
    dt = float(wavelet.time[1] - wavelet.time[0])
    nt = wavelet.sizes["time"]
    options = engine_options(sim, wavelet, vmax)
    off = cond_mod.offsets(acq)
    fmax = float(wavelet.attrs["fmax"])
    m, grid = band_model(vp, wavelet)
    conditioning = band_conditioning(conditioning, grid)

    def one(s: int, run: dict):
        live = _live(d_obs, acq, s)   # masked traces: out of the misfit (the engine applies the mask)
        fn = cond_mod.shot_misfit(misfit, conditioning, off[s] if live is None else off[s][live], nt, dt)
        obs = _sel(d_obs, [s])
        Js, gs, ils, info = engine.gradient(m, acq.select([s]).restrict(None if live is None else live[None]),
                                            _shot_wavelet(wavelet, s), obs, dt=dt, nt=nt, misfit=fn,
                                            illumination=True, return_info=True, options=options, **run)
        w = cond_mod.weights(conditioning, off[s], nt, dt)  # what the misfit sees (masks only)
        if live is not None:
            w = w * live[:, None]
        risk = cycle_skip_risk(w * info["synthetic"], w * obs, dt, fmax)
        return float(Js), gs.values, ils.values, risk, info["strategy"]

    g = np.zeros(m.shape, np.float64)
    il = np.zeros(m.shape, np.float64)
    J, risks = [], []
    for s, (Js, gs, ils, risk, strategy) in zip(shots, map_shots(one, shots, m.size, num_threads)):
        J.append(Js)
        risks.append(risk)
        g += np.asarray(gs, np.float64)
        il += np.asarray(ils, np.float64)
        if log:
            log(f"shot {s}: misfit {Js:.6g}, {100 * risk['fraction']:.0f}% of traces beyond T/2 "
                f"(forward field: {strategy})")
    if grid is not None:  # exact gradient of J(R vp); illumination alike (it scales the gradient)
        g, il = bandgrid.refine_gradient(g, vp, grid), bandgrid.refine_gradient(il, vp, grid)
    ds = risk_to_dataset(merge_risks(risks), np.asarray(list(shots)))
    ds["misfit"] = (("shot",), np.asarray(J))
    ds["gradient"] = (vp.dims, g)
    ds["illumination"] = (vp.dims, il)
    return ds.assign_coords({k: vp.coords[k] for k in vp.dims})


def combine_gradients(vp: xr.DataArray, parts: Sequence[xr.Dataset], acq, band: dict,
                      precondition: dict | None = None) -> xr.Dataset:
    """Sum shot-group gradients in the given (fixed) order and build the preconditioner.

    Also merges the groups' cycle-skipping risks (``shift``, ``live``, attrs
    ``cycle_skip_fraction`` etc. over all shots, :func:`shot_gradients`).
    """
    g = np.zeros(vp.shape, np.float64)
    il = np.zeros(vp.shape, np.float64)
    for p in parts:
        g += p["gradient"].values
        il += p["illumination"].values
    misfit = xr.concat([p["misfit"] for p in parts], dim="shot")
    P = precond_mod.build(vp, il, acq.sources, acq.receivers, band["fmax"], precondition)
    ds = P.to_dataset(vp)
    risk = risk_to_dataset(merge_risks([risk_from_dataset(p) for p in parts]), misfit.shot.values)
    ds = ds.assign(shift=risk["shift"], live=risk["live"])
    ds.attrs.update(risk.attrs)
    ds["gradient"] = (vp.dims, g)
    ds["illumination"] = (vp.dims, il)
    ds["pgradient"] = (vp.dims, P(g))
    ds["misfit"] = misfit
    ds.attrs["J"] = float(np.sum(misfit.values))
    return ds


def compute_direction(vp: xr.DataArray, grad: xr.Dataset, prev: xr.Dataset | None, opt: dict,
                      line_search: dict, step_scale: float | None = None, reset: bool = False) -> xr.Dataset:
    """Search direction, optimiser state and trial steps of one iteration (a Dataset)."""
    P = precond_mod.Preconditioner.from_dataset(grad)
    prev_state = optimize.state_from_dataset(prev) if prev is not None else None
    d, state = optimize.direction(opt["method"], grad["gradient"].values, P, vp.values, prev_state,
                                  memory=opt.get("memory", 5), nlcg_beta=opt.get("nlcg_beta", "pr"),
                                  step_scale=step_scale, reset=reset)
    alpha_ref = optimize.reference_step(d, vp.values, state, line_search["trials"],
                                        line_search["first_change"], line_search["max_change"])
    state["alpha_ref"] = alpha_ref
    state["alphas"] = optimize.trial_steps(alpha_ref, line_search["trials"])
    state["J0"] = float(grad.attrs["J"])
    ds = optimize.state_to_dataset(state, vp)
    ds["mask"] = grad["mask"]
    return ds


def trial_model(vp: xr.DataArray, state: xr.Dataset, alpha: float, bounds) -> xr.DataArray:
    new = optimize.update_model(vp.values, state["direction"].values, alpha, bounds,
                                state["mask"].values, dtype=vp.dtype)
    return vp.copy(data=new)


def shot_trials(vp: xr.DataArray, state: xr.Dataset, acq, wavelet: xr.DataArray, d_obs: xr.DataArray,
                shots: Sequence[int], bounds, sim: dict | None = None, misfit="l2",
                num_threads: int | None = None, conditioning: dict | None = None) -> xr.Dataset:
    """Misfit of each shot of a group at every trial step (forward runs only).

    Returns a Dataset with ``misfit`` (trial, shot) and the ``alpha`` of each
    trial. ``num_threads`` and ``conditioning`` as in :func:`shot_gradients`.
    """

    dt = float(wavelet.time[1] - wavelet.time[0])
    nt = wavelet.sizes["time"]
    options = engine_options(sim, wavelet, bounds[1])
    off = cond_mod.offsets(acq)
    conditioning = band_conditioning(conditioning, band_grid_of(vp, wavelet))
    lives = {s: _live(d_obs, acq, s) for s in shots}
    fns = {s: misfits.masked(cond_mod.shot_misfit(misfit, conditioning, off[s] if lives[s] is None
                                                  else off[s][lives[s]], nt, dt),
                             None if lives[s] is None else lives[s][None]) for s in shots}   # data (1, n_rec, nt)
    alphas = list(state.attrs["alphas"])
    J = np.zeros((len(alphas), len(shots)))
    for i, a in enumerate(alphas):
        m, _ = band_model(trial_model(vp, state, a, bounds), wavelet)

        def one(s: int, run: dict):
            shot = acq.select([s]).restrict(None if lives[s] is None else lives[s][None])
            syn = engine.forward(m, shot, _shot_wavelet(wavelet, s), dt=dt, nt=nt,
                                 options=options, num_threads=run["num_threads"])
            return float(fns[s](np.asarray(syn.values), _sel(d_obs, [s]), dt)[0])

        J[i] = map_shots(one, shots, m.size, num_threads)
    return xr.Dataset({"misfit": (("trial", "shot"), J)},
                      coords={"trial": np.arange(len(alphas)), "alpha": ("trial", np.asarray(alphas)),
                              "shot": np.asarray(list(shots))})


def finish_iteration(vp: xr.DataArray, state: xr.Dataset, trials: Sequence[xr.Dataset], bounds,
                     line_search: dict) -> tuple[xr.DataArray, dict]:
    """Pick the step from the trial misfits, update and project the model."""
    J_trials = np.zeros(len(state.attrs["alphas"]))
    for t in trials:  # fixed order: shot groups in index order
        J_trials += t["misfit"].values.sum(axis=1)
    res = optimize.select_step(state.attrs["J0"], state.attrs["slope"], state.attrs["alphas"], J_trials,
                               c1=line_search["c1"])
    new = trial_model(vp, state, res["alpha"], bounds) if res["status"] != "failed" else vp.copy()
    info = {
        "J0": float(state.attrs["J0"]), "J": float(res["J"]), "alpha": float(res["alpha"]),
        "status": res["status"], "message": res["message"], "trial_alphas": list(state.attrs["alphas"]),
        "trial_misfits": [float(j) for j in J_trials],
        "step_scale": optimize.next_step_scale(state.attrs["step_scale"], res, line_search["shrink"],
                                               line_search["grow"]),
        "reset": res["status"] == "failed",
        "method": state.attrs["method"], "restarted": bool(state.attrs["restarted"]),
    }
    new.attrs = {k: v for k, v in vp.attrs.items() if k in ("units", "spacing")}
    return new, info


def gradient_message(grad: xr.Dataset) -> str:
    """One log line on a summed gradient: misfit and cycle-skipping risk."""
    a = grad.attrs
    return (f"misfit {a['J']:.6g} ({grad.sizes['shot']} shots); cycle-skip risk: {a['n_skipped']}/{a['n_live']} "
            f"live traces beyond T/2 = {1e3 * a['half_period']:.0f} ms ({100 * a['cycle_skip_fraction']:.1f}%)")


def direction_message(state: xr.Dataset) -> str:
    """One log line on a search direction."""
    a = state.attrs
    return (f"{a['method']}: restarted={a['restarted']} pairs={a['n_pairs']} "
            f"trial steps={['%.4g' % x for x in a['alphas']]}")


