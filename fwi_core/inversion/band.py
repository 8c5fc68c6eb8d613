"""One band of a multi-scale inversion: its time axis and wavelet, its filter
and grid (:func:`prepare_band`), the engine options of its runs, and the
modelling on its grid. Every stage of :mod:`.stages` starts from these."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

from .. import artifacts, config, engine
from ..engine.options import Options
from ..traces import misfits
from ..traces.signal import butterworth, butterworth_precursor, resample
from . import bandgrid

#: A run's settings and the simulation block with the schema's defaults
#: (``fwi_core/config/schema.yaml``, the one source of defaults).
DEFAULTS: dict[str, Any] = config.defaults("inversion")
SIM_DEFAULTS: dict[str, Any] = {k: v for k, v in config.defaults("simulation").items() if k not in ("t_max", "dt")}


def engine_options(sim: dict | None, wavelet: xr.DataArray | None = None, vmax: float | None = None) -> Options:
    """The engine :class:`~fwi_core.engine.options.Options` of the config's ``simulation`` block.

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
    return Options(**kw)


def cpml_frequency(wavelet: xr.DataArray) -> float:
    """CPML reference frequency (Hz) of a band: half the band's ``fmax``
    (the ``fmax`` attr that :func:`prepare_band` puts on the wavelet)."""
    fmax = wavelet.attrs.get("fmax")
    if fmax is None:
        raise ValueError("wavelet: has no 'fmax' attr; filter it with inversion.prepare_band first")
    return 0.5 * float(fmax)


def make_misfit(name: str = "l2", params: dict | None = None):
    """A misfit name or, with parameters, a callable (syn, obs, dt) -> (J, adj)."""
    fn = misfits.get(name)
    if not params:
        return name
    return lambda syn, obs, dt: fn(syn, obs, dt, **params)


def engine_threads(num_threads: int | None) -> int:
    """Threads a stage may use: ``num_threads`` (e.g. a Snakemake job's
    ``threads``) capped at numba's thread count; None: all of them."""
    import numba

    if num_threads is None:
        return int(numba.config.NUMBA_NUM_THREADS)
    if isinstance(num_threads, bool) or int(num_threads) != num_threads or num_threads < 1:
        raise ValueError(f"num_threads: must be a positive integer, got {num_threads!r}")
    return min(int(num_threads), int(numba.config.NUMBA_NUM_THREADS))

def time_axis(dt: float, t_max: float) -> np.ndarray:
    nt = config.n_steps(t_max, dt)
    return dt * np.arange(nt)


def choose_dt(vp: xr.DataArray, vmax: float, space_order: int = 8, safety: float = 0.8) -> float:
    """A stable dt for every model the inversion may visit (velocities up to ``vmax``)."""
    vmax = max(float(vp.max()), float(vmax))
    return float(engine.stable_dt(vp.copy(data=np.full(vp.shape, vmax, vp.dtype)), space_order=space_order,
                               safety=safety))


def source_wavelet(freq: float, dt: float, nt: int, delay: float | None = None) -> xr.DataArray:
    """Ricker wavelet ``(nt,)`` of peak frequency ``freq`` (Hz) peaking at
    ``delay`` s (default ``1.5 / freq``; see :func:`wavelet_delay`)."""
    delay = 1.5 / float(freq) if delay is None else float(delay)
    w = np.asarray(engine.ricker(freq=freq, dt=dt, nt=nt, peak_time=delay), np.float64)
    return xr.DataArray(w, dims=("time",), coords={"time": dt * np.arange(nt)}, name="wavelet",
                        attrs={"type": "ricker", "freq": float(freq), "dt": float(dt), "delay": delay})


def wavelet_delay(freq: float, dt: float, band: dict | None = None, order: int = 4,
                  tol: float = 1e-4) -> float:
    """Peak time (s) of the Ricker so that no band's filter cuts it at ``t = 0``.

    ``1.5 / freq`` (where the Ricker starts from ~0) plus the acausal length
    of the zero-phase filter of ``band`` (``{fmin?, fmax, order?}``; the band
    with the lowest corner frequency, :func:`fwi_core.config.lowest_band`):
    :func:`fwi_core.traces.signal.butterworth_precursor` at energy fraction ``tol``.
    About ``1.5 / freq + 1.42 / fmax`` for an order-4 low-pass band.
    """
    return 1.5 / float(freq) + band_precursor(dt, band, order, tol)


def band_precursor(dt: float, band: dict | None, order: int = 4, tol: float = 1e-4) -> float:
    """Acausal length (s) of the zero-phase filter of ``band`` (``{fmin?,
    fmax, order?}``; 0 for None): :func:`fwi_core.traces.signal.butterworth_precursor`
    at energy fraction ``tol``. A source must start at least this long after
    ``t = 0`` for the band's filter not to cut it."""
    if band is None:
        return 0.0
    return butterworth_precursor(dt, band.get("fmin"), band["fmax"], int(band.get("order") or order), tol)


def spike_wavelet(dt: float, nt: int, delay: float) -> xr.DataArray:
    """A discrete delta (``1 / dt`` at the sample nearest ``delay`` s, zero
    elsewhere; ``(nt,)``): the broadband reference of ``wavelet.type:
    estimate``, whose band-filtered synthetics carry every frequency of the
    band to :func:`estimate_wavelet`."""
    k = int(round(float(delay) / dt))
    if not 0 <= k < nt:
        raise ValueError(f"delay: {delay:g} s is outside the record [0, {(nt - 1) * dt:g}] s")
    w = np.zeros(nt)
    w[k] = 1.0 / dt
    return xr.DataArray(w, dims=("time",), coords={"time": dt * np.arange(nt)}, name="wavelet",
                        attrs={"type": "spike", "dt": float(dt), "delay": k * dt})


def file_wavelet(x: np.ndarray, dt_in: float, t0: float, dt: float, nt: int) -> xr.DataArray:
    """A wavelet read from a file (samples ``x`` at ``t0 + k * dt_in`` s) on
    the modelling axis ``k * dt``, ``k < nt``: resampled
    (:func:`fwi_core.traces.signal.resample`: anti-aliased, band-limited)
    where it was recorded, zero before its first and after its last sample
    (a source is silent outside its record)."""
    x = np.asarray(x, np.float64).ravel()
    if x.size < 4 or not np.all(np.isfinite(x)):
        raise ValueError(f"wavelet.path: the wavelet must have at least 4 finite samples, got {x.size}")
    t = dt * np.arange(nt)
    t_in = t0 + dt_in * np.arange(x.size)
    inside = (t >= t_in[0] - 1e-9 * dt) & (t <= t_in[-1] + 1e-9 * dt)
    w = np.zeros(nt)
    if inside.any():
        on_axis = abs(dt_in - dt) <= 1e-9 * dt and abs((t0 / dt) - round(t0 / dt)) < 1e-6
        w[inside] = x[np.round((t[inside] - t0) / dt).astype(int)] if on_axis else \
            resample(x[None], t_in, t[inside])[0]
    return xr.DataArray(w, dims=("time",), coords={"time": t}, name="wavelet",
                        attrs={"type": "file", "dt": float(dt), "source_dt": float(dt_in), "source_t0": float(t0)})


def model_data(vp: xr.DataArray, acq, wavelet: xr.DataArray, sim: dict | None = None,
               num_threads: int | None = None) -> xr.DataArray:
    """Synthetic observed data of ``vp`` (all shots), ``("shot", "receiver", "time")``."""
    dt = float(wavelet.attrs.get("dt", wavelet.time[1] - wavelet.time[0]))
    d = engine.forward(vp, acq, wavelet.values, dt=dt, nt=wavelet.sizes["time"], options=engine_options(sim),
                    num_threads=None if num_threads is None else engine_threads(num_threads))
    return d.rename("data")


def prepare_band(d_obs: xr.DataArray, wavelet: xr.DataArray, band: dict, order: int = 4,
                 grid_model: xr.DataArray | None = None, sim: dict | None = None,
                 bounds: Sequence[float] | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """Observed data and wavelet of one band, through the same zero-phase Butterworth.

    With ``grid_model`` (any model on the run's grid) and ``simulation.band_grids``
    on (the default), the band also gets its own coarser grid and longer time
    step (:func:`fwi_core.inversion.bandgrid.choose` for the run's velocity ``bounds``):
    data and wavelet are decimated in time, and the wavelet carries the grid
    in its attrs, which :func:`shot_gradients` and :func:`shot_trials` follow.
    """
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


def live_traces(acq, d_obs) -> np.ndarray:
    """``(n_shots, n_receivers)`` booleans: the traces that enter the misfit,
    the acquisition's mask and the observed data's trace mask
    (:func:`fwi_core.artifacts.trace_mask`: dead traces) together."""
    m = artifacts.trace_mask(d_obs) if isinstance(d_obs, xr.DataArray) else None
    return acq.mask if m is None else acq.mask & m


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
    m, _ = band_model(vp, wavelet)
    dt = float(wavelet.time[1] - wavelet.time[0])
    return engine.forward(m, acq, wavelet.values, dt=dt, nt=wavelet.sizes["time"],
                         options=engine_options(sim, wavelet, vmax), num_threads=num_threads)




def estimate_wavelet(vp: xr.DataArray, acq, wavelet: xr.DataArray, d_obs: xr.DataArray, sim: dict | None,
                     vmax: float, water_level: float = 1e-4, per_shot: bool = False,
                     num_threads: int | None = None) -> xr.DataArray:
    """The band's source signature estimated from its observed data and the
    model ``vp`` (:func:`fwi_core.traces.signature.source_signature`, Pratt's
    least-squares estimator with a water level).

    ``wavelet``/``d_obs``: the band's reference wavelet and observed data
    (:func:`prepare_band`: filtered alike, on the band's grid); the
    synthetics are modelled with the reference in ``vp`` on that grid
    (:func:`band_forward`, the band's CPML reference ``vmax``). Masked and
    dead traces (:func:`live_traces`) are left out.
    Returns the estimated wavelet, ``(time,)`` shared or ``(shot, time)``
    with ``per_shot``, with the reference's attrs (band, grid) and
    ``type: estimated``, ``water_level``, ``residual_reference`` and
    ``residual_estimate`` (relative data residual of the reference and of the
    estimate in ``vp``)."""
    from ..traces.signature import source_signature

    live = live_traces(acq, d_obs)
    syn = band_forward(vp, acq.restrict(live), wavelet, sim, vmax, num_threads)
    w, fit = source_signature(syn.values, d_obs.values, wavelet.values, water_level, per_shot, live)
    dims = ("shot", "time") if w.ndim == 2 else ("time",)
    return xr.DataArray(w, dims=dims, coords={"time": wavelet.time.values}, name="wavelet",
                        attrs={**wavelet.attrs, "type": "estimated", "water_level": float(water_level),
                               "per_shot": bool(per_shot), **fit})
