"""Multi-scale FWI as stage functions, and an in-memory loop built from them.

The Snakemake pipeline calls the stage functions below one per job; the
in-memory :func:`invert` chains *the same functions* in a loop, so a notebook
run and a pipeline run follow the same numerics:

    prepare_band       filter observed data and wavelet (same zero-phase filter)
    shot_gradients     per shot group: misfit per shot, gradient, illumination
    combine_gradients  sum of groups (fixed order, float64) + preconditioner
    compute_direction  SD / NLCG / L-BFGS direction + reference step + trials
    shot_trials        per shot group: misfit at every trial step
    finish_iteration   line-search rule, projection, next model + info

Example::

    res = invert(vp0, acq, w, d_obs, dt=dt, bands=[{"fmax": 4, "iterations": 5}],
                 vp_true=vp_true, callback=lambda info, vp: print(info["message"]))
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import xarray as xr

from . import conditioning as cond_mod
from . import config
from .diagnostics import cycle_skip_risk, merge_risks, risk_from_dataset, risk_to_dataset
from . import bandgrid, optimize
from . import precondition as precond_mod

#: A run's settings and the simulation block with the schema's defaults
#: (``fwi_core/config.schema.yaml``, the one source of defaults).
DEFAULTS: dict[str, Any] = config.defaults("inversion")
SIM_DEFAULTS: dict[str, Any] = {k: v for k, v in config.defaults("simulation").items() if k not in ("t_max", "dt")}


def settings(inv: dict | None = None) -> dict:
    """Inversion settings with defaults (the config's ``inversion`` block)."""
    out = copy.deepcopy(DEFAULTS)
    for k, v in (inv or {}).items():
        out[k] = {**out[k], **v} if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def engine_kwargs(sim: dict | None, wavelet: xr.DataArray | None = None, vmax: float | None = None) -> dict:
    """Keywords of fwi.forward / fwi.gradient from the config's ``simulation`` block.

    With a band's ``wavelet`` (from :func:`prepare_band`) and ``vmax`` (m/s, the
    run's upper velocity bound ``inversion.bounds[1]``) the CPML reference is
    fixed for the whole band: ``vmax`` and ``freq`` = :func:`cpml_frequency`.
    Without them the engine takes the model's maximum and the wavelet's peak,
    so the absorbing layer would change with every trial model.
    """
    s = {**SIM_DEFAULTS, **(sim or {})}
    kw = {"space_order": int(s["space_order"]), "pml_width": int(s["pml_width"]),
          "free_surface": bool(s["free_surface"]), "dtype": np.dtype(s["dtype"]).type}
    if wavelet is not None:
        if vmax is None:
            raise ValueError("vmax: the run's upper velocity bound (inversion.bounds[1]) is required "
                             "with a band's wavelet")
        kw.update(vmax=float(vmax), freq=cpml_frequency(wavelet))
    return kw


def cpml_frequency(wavelet: xr.DataArray) -> float:
    """CPML reference frequency (Hz) of a band: half the band's ``fmax``
    (the ``fmax`` attr that :func:`prepare_band` puts on the wavelet)."""
    fmax = wavelet.attrs.get("fmax")
    if fmax is None:
        raise ValueError("wavelet: has no 'fmax' attr; filter it with inversion.prepare_band first")
    return 0.5 * float(fmax)


def make_misfit(name: str = "l2", params: dict | None = None):
    """A misfit name or, with parameters, a callable (syn, obs, dt) -> (J, adj)."""
    from . import misfits

    fn = misfits.get(name)
    if not params:
        return name
    return lambda syn, obs, dt: fn(syn, obs, dt, **params)


# ----------------------------------------------------------------------------- setup
def time_axis(dt: float, t_max: float) -> np.ndarray:
    nt = config.n_steps(t_max, dt)
    return dt * np.arange(nt)


def choose_dt(vp: xr.DataArray, vmax: float, space_order: int = 8, safety: float = 0.8) -> float:
    """A stable dt for every model the inversion may visit (velocities up to ``vmax``)."""
    from .stability import stable_dt

    vmax = max(float(vp.max()), float(vmax))
    return float(stable_dt(vp.copy(data=np.full(vp.shape, vmax, vp.dtype)), space_order=space_order,
                               safety=safety))


def source_wavelet(freq: float, dt: float, nt: int, delay: float | None = None) -> xr.DataArray:
    """Ricker wavelet ``(nt,)`` of peak frequency ``freq`` (Hz) peaking at
    ``delay`` s (default ``1.5 / freq``; see :func:`wavelet_delay`)."""
    from .wavelets import ricker

    delay = 1.5 / float(freq) if delay is None else float(delay)
    w = np.asarray(ricker(freq=freq, dt=dt, nt=nt, peak_time=delay), np.float64)
    return xr.DataArray(w, dims=("time",), coords={"time": dt * np.arange(nt)}, name="wavelet",
                        attrs={"type": "ricker", "freq": float(freq), "dt": float(dt), "delay": delay})


def wavelet_delay(freq: float, dt: float, band: dict | None = None, order: int = 4,
                  tol: float = 1e-4) -> float:
    """Peak time (s) of the Ricker so that no band's filter cuts it at ``t = 0``.

    ``1.5 / freq`` (where the Ricker starts from ~0) plus the acausal length
    of the zero-phase filter of ``band`` (``{fmin?, fmax, order?}``; the band
    with the lowest corner frequency, :func:`fwi_core.config.lowest_band`):
    :func:`fwi_core.signal.butterworth_precursor` at energy fraction ``tol``.
    About ``1.5 / freq + 1.42 / fmax`` for an order-4 low-pass band.
    """
    from .signal import butterworth_precursor

    extra = 0.0
    if band is not None:
        extra = butterworth_precursor(dt, band.get("fmin"), band["fmax"], int(band.get("order") or order), tol)
    return 1.5 / float(freq) + extra


def model_data(vp: xr.DataArray, acq, wavelet: xr.DataArray, sim: dict | None = None,
               num_threads: int | None = None) -> xr.DataArray:
    """Synthetic observed data of ``vp`` (all shots), ``("shot", "receiver", "time")``."""
    from .propagation import forward

    dt = float(wavelet.attrs.get("dt", wavelet.time[1] - wavelet.time[0]))
    d = forward(vp, acq, wavelet.values, dt=dt, nt=wavelet.sizes["time"], **engine_kwargs(sim),
                    num_threads=None if num_threads is None else engine_threads(num_threads))
    return d.rename("data")


# ----------------------------------------------------------------------------- stages
def prepare_band(d_obs: xr.DataArray, wavelet: xr.DataArray, band: dict, order: int = 4,
                 grid_model: xr.DataArray | None = None, sim: dict | None = None,
                 bounds: Sequence[float] | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """Observed data and wavelet of one band, through the same zero-phase Butterworth.

    With ``grid_model`` (any model on the run's grid) and ``simulation.band_grids``
    on (the default), the band also gets its own coarser grid and longer time
    step (:func:`fwi_core.bandgrid.choose` for the run's velocity ``bounds``):
    data and wavelet are decimated in time, and the wavelet carries the grid
    in its attrs, which :func:`shot_gradients` and :func:`shot_trials` follow.
    """
    from .signal import butterworth

    dt = float(d_obs.time[1] - d_obs.time[0])
    order = int(band.get("order") or order)
    kw = {"fmin": band.get("fmin"), "fmax": band["fmax"], "order": order}
    d = d_obs.copy(data=butterworth(d_obs.values, dt, axis=-1, **kw).astype(d_obs.dtype))
    w = wavelet.copy(data=butterworth(wavelet.values, dt, axis=-1, **kw))
    d.attrs.update(fmin=band.get("fmin"), fmax=band["fmax"], order=order)
    w.attrs.update(fmin=band.get("fmin"), fmax=band["fmax"], order=order)
    s = {**SIM_DEFAULTS, **(sim or {})}
    if grid_model is not None and s["band_grids"]:
        if bounds is None:
            raise ValueError("bounds: the run's [vmin, vmax] (m/s) are needed to choose a band grid")
        grid = bandgrid.choose(grid_model, w.values, dt, float(bounds[0]), float(bounds[1]),
                               int(s["space_order"]), float(s["cfl_safety"]))
        d, w = bandgrid.decimate(d, grid.time_factor), bandgrid.decimate(w, grid.time_factor)
        d.attrs.update(grid.to_attrs())
        w.attrs.update(grid.to_attrs())
    return d, w


def band_model(vp: xr.DataArray, wavelet: xr.DataArray) -> tuple[xr.DataArray, bandgrid.BandGrid | None]:
    """``vp`` on the grid the band ``wavelet`` names (:func:`prepare_band`),
    and that grid (None: the model's own grid)."""
    grid = band_grid_of(vp, wavelet)
    return (vp, None) if grid is None else (bandgrid.coarsen(vp, grid), grid)


def band_grid_of(vp: xr.DataArray, wavelet: xr.DataArray) -> bandgrid.BandGrid | None:
    """The grid a band ``wavelet`` names, None if it is ``vp``'s own."""
    grid = bandgrid.BandGrid.from_attrs(wavelet.attrs)
    return None if grid is None or tuple(grid.shape) == tuple(vp.shape) else grid


def band_conditioning(conditioning: dict | None, grid: bandgrid.BandGrid | None) -> dict | None:
    """The band's data conditioning on its grid: traces closer to their source
    than one band-grid cell are left out of the misfit (the source's near
    field is not resolved on that grid; on Marmousi2 the zero-offset trace
    alone otherwise carries most of the band's misfit)."""
    if grid is None:
        return conditioning
    out = dict(conditioning or {})
    off = dict(out.get("offsets") or {})
    off["min"] = max(float(off.get("min") or 0.0), max(grid.spacing))
    out["offsets"] = off
    return out


def band_forward(vp: xr.DataArray, acq, wavelet: xr.DataArray, sim: dict | None, vmax: float,
                 num_threads: int | None = None) -> xr.DataArray:
    """Shot records of ``vp`` for a band (all shots of ``acq``; ``wavelet``
    ``(time,)`` or ``(shot, time)`` for them), on the band's grid and time step."""
    from .propagation import forward

    m, _ = band_model(vp, wavelet)
    dt = float(wavelet.time[1] - wavelet.time[0])
    return forward(m, acq, wavelet.values, dt=dt, nt=wavelet.sizes["time"],
                       **engine_kwargs(sim, wavelet, vmax), num_threads=num_threads)


def _sel(arr, shots):
    a = arr.values if isinstance(arr, xr.DataArray) else np.asarray(arr)
    return a[list(shots)]


def _shot_wavelet(w: xr.DataArray, shot: int) -> np.ndarray:
    return w.values if w.ndim == 1 else w.values[shot]


def engine_threads(num_threads: int | None) -> int:
    """Threads a stage may use: ``num_threads`` (e.g. a Snakemake job's
    ``threads``) capped at numba's thread count; None: all of them."""
    import numba

    if num_threads is None:
        return int(numba.config.NUMBA_NUM_THREADS)
    if isinstance(num_threads, bool) or int(num_threads) != num_threads or num_threads < 1:
        raise ValueError(f"num_threads: must be a positive integer, got {num_threads!r}")
    return min(int(num_threads), int(numba.config.NUMBA_NUM_THREADS))


def map_shots(task: Callable[[int, dict], Any], shots: Sequence[int], n_points: int,
              num_threads: int | None = None) -> list:
    """``[task(s, engine) for s in shots]`` on ``num_threads`` threads.

    With at least as many shots as threads each thread runs whole shots
    (:func:`fwi_core.propagation.run_shots`: fixed assignment, no per-step
    synchronisation), else one shot at a time with the grid split across the
    threads. ``engine`` holds the keywords the task passes to
    ``fwi.forward``/``fwi.gradient``: ``num_threads`` (1 inside a
    shot-per-thread worker) and ``memory_budget`` (bytes, shared by the shots
    running at once; ``fwi.gradient`` only). Results come back in shot order,
    so sums over them are bitwise independent of the thread count.
    ``n_points``: grid size (points), used to keep tiny grids serial.
    """
    from .propagation import DEFAULT_MEMORY_BUDGET, run_shots, shot_workers

    shots = list(shots)
    n = engine_threads(num_threads)
    workers = shot_workers(len(shots), n)
    engine = {"num_threads": 1 if workers > 1 else n, "memory_budget": DEFAULT_MEMORY_BUDGET // workers}
    return run_shots(lambda i, _: task(shots[i], engine), len(shots), int(n_points), n)


def shot_gradients(vp: xr.DataArray, acq, wavelet: xr.DataArray, d_obs: xr.DataArray,
                   shots: Sequence[int], sim: dict | None = None, misfit="l2",
                   log: Callable[[str], None] | None = None, *, vmax: float,
                   num_threads: int | None = None, conditioning: dict | None = None) -> xr.Dataset:
    """Forward + adjoint of each shot of a group: misfit per shot, summed gradient and illumination.

    ``vmax`` (m/s): the run's upper velocity bound, the CPML reference of the
    band (see :func:`engine_kwargs`), the same in :func:`shot_trials`.
    ``num_threads``: threads of the job (:func:`map_shots`; None: all).
    ``conditioning``: the band's data conditioning (masks, normalisation,
    :func:`fwi_core.conditioning.band_spec`), applied inside the misfit.
    Returns a Dataset: ``misfit`` (shot,), ``gradient`` and ``illumination``
    (dims of ``vp``, float64, summed over the shots in shot order), and the
    cycle-skipping risk of the band's ``fmax`` on the (masked) data:
    ``shift`` (s) and ``live`` (shot, receiver), attrs ``cycle_skip_fraction``,
    ``n_live``, ``n_skipped``, ``half_period``, ``fmax``
    (:func:`fwi_core.diagnostics.risk_to_dataset`).
    """
    from .gradient import gradient as engine_gradient

    dt = float(wavelet.time[1] - wavelet.time[0])
    nt = wavelet.sizes["time"]
    kw = engine_kwargs(sim, wavelet, vmax)
    off = cond_mod.offsets(acq)
    fmax = float(wavelet.attrs["fmax"])
    m, grid = band_model(vp, wavelet)
    conditioning = band_conditioning(conditioning, grid)

    def one(s: int, engine: dict):
        fn = cond_mod.shot_misfit(misfit, conditioning, off[s], nt, dt)
        obs = _sel(d_obs, [s])
        Js, gs, ils, info = engine_gradient(m, acq.select([s]), _shot_wavelet(wavelet, s), obs,
                                         dt=dt, nt=nt, misfit=fn, illumination=True, return_info=True,
                                         **kw, **engine)
        w = cond_mod.weights(conditioning, off[s], nt, dt)  # what the misfit sees (masks only)
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
    from .propagation import forward
    from . import misfits

    dt = float(wavelet.time[1] - wavelet.time[0])
    nt = wavelet.sizes["time"]
    kw = engine_kwargs(sim, wavelet, bounds[1])
    off = cond_mod.offsets(acq)
    conditioning = band_conditioning(conditioning, band_grid_of(vp, wavelet))
    fns = {s: misfits.get(cond_mod.shot_misfit(misfit, conditioning, off[s], nt, dt)) for s in shots}
    alphas = list(state.attrs["alphas"])
    J = np.zeros((len(alphas), len(shots)))
    for i, a in enumerate(alphas):
        m, _ = band_model(trial_model(vp, state, a, bounds), wavelet)

        def one(s: int, engine: dict):
            syn = forward(m, acq.select([s]), _shot_wavelet(wavelet, s), dt=dt, nt=nt, **kw,
                              num_threads=engine["num_threads"])
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


# ----------------------------------------------------------------------------- loop
def iteration(vp: xr.DataArray, prev: xr.Dataset | None, acq, wavelet: xr.DataArray, d_obs: xr.DataArray,
              band: dict, cfg: dict, groups: Sequence[Sequence[int]], sim: dict | None, misfit,
              conditioning: dict | None, step_scale: float | None = None, reset: bool = False,
              num_threads: int | None = None) -> tuple[xr.Dataset, xr.Dataset, xr.DataArray, dict]:
    """One iteration of a band, all stages in order: gradients of the shot
    ``groups`` (summed in group order), direction from the previous
    iteration's state ``prev`` (None: first of the band), trials, update.

    ``cfg``: :func:`settings`; ``wavelet``/``d_obs``: the band's
    (:func:`prepare_band`); ``step_scale``/``reset``: from the previous
    iteration's ``info``. Returns (gradient, direction state, new model, info),
    the three artifacts a pipeline iteration writes and its summary."""
    vmax = cfg["bounds"][1]
    parts = [shot_gradients(vp, acq, wavelet, d_obs, g, sim, misfit, vmax=vmax,
                            num_threads=num_threads, conditioning=conditioning) for g in groups]
    grad = combine_gradients(vp, parts, acq, band, cfg["precondition"])
    state = compute_direction(vp, grad, prev, cfg["optimizer"], cfg["line_search"], step_scale, reset)
    trials = [shot_trials(vp, state, acq, wavelet, d_obs, g, cfg["bounds"], sim, misfit, num_threads,
                          conditioning) for g in groups]
    new, info = finish_iteration(vp, state, trials, cfg["bounds"], cfg["line_search"])
    return grad, state, new, info


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


@dataclass
class InversionResult:
    model: xr.DataArray
    history: list[dict] = field(default_factory=list)


def invert(vp0: xr.DataArray, acq, wavelet, d_obs: xr.DataArray, *, bands: Sequence[dict],
           dt: float | None = None, sim: dict | None = None, vp_true: xr.DataArray | None = None,
           shots_per_job: int | None = None, num_threads: int | None = None,
           callback: Callable[[dict, xr.DataArray], None] | None = None,
           **inv) -> InversionResult:
    """In-memory multi-scale FWI using exactly the pipeline's stage functions.

    ``wavelet``: DataArray with a ``time`` coord, or an array (then ``dt`` is needed).
    ``inv`` takes the keys of the config's ``inversion`` block (misfit,
    optimizer, line_search, precondition, bounds, filter_order, conditioning);
    a band may carry ``max_offset`` (m, offset continuation).
    ``callback(info, vp)`` runs after every iteration (the hook).
    ``num_threads``: threads of the shot stages (None: all numba threads).
    """
    from .config import shot_groups

    cfg = settings(inv)
    if not isinstance(wavelet, xr.DataArray):
        wavelet = xr.DataArray(np.asarray(wavelet), dims=("time",) if np.ndim(wavelet) == 1 else ("shot", "time"))
        wavelet = wavelet.assign_coords(time=dt * np.arange(wavelet.sizes["time"]))
    if not isinstance(d_obs, xr.DataArray):
        d_obs = xr.DataArray(np.asarray(d_obs), dims=("shot", "receiver", "time"),
                             coords={"time": wavelet.time.values})
    misfit = make_misfit(cfg["misfit"]["name"], cfg["misfit"].get("params"))
    groups = shot_groups(acq.n_shots, shots_per_job or acq.n_shots)
    vp = vp0.copy()
    history: list[dict] = []
    for b, band in enumerate(bands):
        d_b, w_b = prepare_band(d_obs, wavelet, band, cfg["filter_order"], vp0, sim, cfg["bounds"])
        cond = cond_mod.band_spec(cfg["conditioning"], band)
        state, step_scale, reset = None, None, False
        for it in range(int(band["iterations"])):
            _, state, vp, info = iteration(vp, state, acq, w_b, d_b, band, cfg, groups, sim, misfit,
                                           cond, step_scale, reset, num_threads)
            step_scale, reset = info["step_scale"], info["reset"]
            info.update(band=b, iteration=it, fmax=band["fmax"])
            if vp_true is not None:
                from .models import relative_error

                info["model_error"] = relative_error(vp, vp_true)
            history.append(info)
            if callback:
                callback(info, vp)
    return InversionResult(model=vp, history=history)
