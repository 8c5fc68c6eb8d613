"""The in-memory inversion loop, built from the same stage functions as the
pipeline's jobs (:mod:`.stages`), so a notebook run and a pipeline run follow
the same numerics."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import xarray as xr

from .. import config
from ..survey.models import relative_error
from . import conditioning as cond_mod
from .band import DEFAULTS, estimate_wavelet, make_misfit, prepare_band
from .stages import combine_gradients, compute_direction, finish_iteration, shot_gradients, shot_trials

def settings(inv: dict | None = None) -> dict:
    """Inversion settings with defaults (the config's ``inversion`` block)."""
    out = copy.deepcopy(DEFAULTS)
    for k, v in (inv or {}).items():
        out[k] = {**out[k], **v} if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


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


@dataclass
class InversionResult:
    model: xr.DataArray
    history: list[dict] = field(default_factory=list)


def invert(vp0: xr.DataArray, acq, wavelet, d_obs: xr.DataArray, *, bands: Sequence[dict],
           dt: float | None = None, sim: dict | None = None, vp_true: xr.DataArray | None = None,
           shots_per_job: int | None = None, num_threads: int | None = None,
           callback: Callable[[dict, xr.DataArray], None] | None = None,
           estimate: dict | None = None, **inv) -> InversionResult:
    """In-memory multi-scale FWI using exactly the pipeline's stage functions.

    ``wavelet``: DataArray with a ``time`` coord, or an array (then ``dt`` is needed).
    ``inv`` takes the keys of the config's ``inversion`` block (misfit,
    optimizer, line_search, precondition, bounds, filter_order, conditioning);
    a band may carry ``max_offset`` (m, offset continuation).
    ``callback(info, vp)`` runs after every iteration (the hook).
    ``num_threads``: threads of the shot stages (None: all numba threads).
    ``estimate``: ``{water_level, per_shot}`` (config ``wavelet.estimate``) to
    estimate every band's source signature from the band's observed data and
    its starting model (:func:`fwi_core.inversion.estimate_wavelet`),
    ``wavelet`` being the reference (a spike, :func:`spike_wavelet`).
    """
    cfg = settings(inv)
    if not isinstance(wavelet, xr.DataArray):
        wavelet = xr.DataArray(np.asarray(wavelet), dims=("time",) if np.ndim(wavelet) == 1 else ("shot", "time"))
        wavelet = wavelet.assign_coords(time=dt * np.arange(wavelet.sizes["time"]))
    if not isinstance(d_obs, xr.DataArray):
        d_obs = xr.DataArray(np.asarray(d_obs), dims=("shot", "receiver", "time"),
                             coords={"time": wavelet.time.values})
    misfit = make_misfit(cfg["misfit"]["name"], cfg["misfit"].get("params"))
    groups = config.shot_groups(acq.n_shots, shots_per_job or acq.n_shots)
    vp = vp0.copy()
    history: list[dict] = []
    for b, band in enumerate(bands):
        d_b, w_b = prepare_band(d_obs, wavelet, band, cfg["filter_order"], vp0, sim, cfg["bounds"])
        if estimate is not None:
            w_b = estimate_wavelet(vp, acq, w_b, d_b, sim, cfg["bounds"][1], estimate.get("water_level", 1e-4),
                                   estimate.get("per_shot", False), num_threads)
        cond = cond_mod.band_spec(cfg["conditioning"], band)
        state, step_scale, reset = None, None, False
        for it in range(int(band["iterations"])):
            _, state, vp, info = iteration(vp, state, acq, w_b, d_b, band, cfg, groups, sim, misfit,
                                           cond, step_scale, reset, num_threads)
            step_scale, reset = info["step_scale"], info["reset"]
            info.update(band=b, iteration=it, fmax=band["fmax"])
            if vp_true is not None:
                info["model_error"] = relative_error(vp, vp_true)
            history.append(info)
            if callback:
                callback(info, vp)
    return InversionResult(model=vp, history=history)
