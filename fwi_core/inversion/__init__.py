"""Multi-scale FWI as stage functions, and an in-memory loop built from them.

The Snakemake pipeline calls the stage functions one per job; the in-memory
:func:`invert` chains *the same functions* in a loop, so a notebook run and a
pipeline run follow the same numerics:

    prepare_band       filter observed data and wavelet (same zero-phase filter)   band.py
    shot_gradients     per shot group: misfit per shot, gradient, illumination     stages.py
    combine_gradients  sum of groups (fixed order, float64) + preconditioner
    compute_direction  SD / NLCG / L-BFGS direction + reference step + trials
    shot_trials        per shot group: misfit at every trial step
    finish_iteration   line-search rule, projection, next model + info
    invert             the loop over bands and iterations                           loop.py

Beside them: ``bandgrid`` (a band's own grid), ``conditioning`` (masks and
normalisation inside the misfit), ``precondition``, ``optimize`` (directions
and line search), ``diagnostics`` (cycle-skipping risk).

Example::

    res = invert(vp0, acq, w, d_obs, dt=dt, bands=[{"fmax": 4, "iterations": 5}],
                 vp_true=vp_true, callback=lambda info, vp: print(info["message"]))
"""
from __future__ import annotations

from .band import (  # noqa: F401
    engine_options, cpml_frequency, make_misfit, engine_threads, time_axis, choose_dt,
    source_wavelet, wavelet_delay, band_precursor, spike_wavelet, file_wavelet, model_data, prepare_band, band_model, band_grid_of,
    band_conditioning, band_forward, estimate_wavelet, live_traces, DEFAULTS, SIM_DEFAULTS)
from .stages import (  # noqa: F401
    map_shots, shot_gradients, combine_gradients, compute_direction, trial_model, shot_trials,
    finish_iteration, gradient_message, direction_message)
from .loop import (  # noqa: F401
    settings, iteration, InversionResult, invert)
