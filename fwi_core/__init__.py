"""fwi_core: an exactly-adjoint acoustic wave engine and the pieces of a
multi-scale full-waveform inversion (FWI). No Snakemake import anywhere.

Public API (stable names)::

    import fwi_core as fwi
    vp = fwi.as_model(values, spacing=(dz, dx))
    acq = fwi.Acquisition(sources=src_zx, receivers=rec_zx)
    acq = fwi.Acquisition.surface(vp, n_shots=..., n_receivers=...)
    w = fwi.ricker(freq=..., dt=..., nt=...)
    dt = fwi.stable_dt(vp, space_order=8)
    d = fwi.forward(vp, acq, w, dt=..., nt=...)
    J, g = fwi.gradient(vp, acq, w, d_obs, dt=..., nt=...)

The folders (docs/architecture.md): ``config`` (schema, validation,
planning), ``engine`` (the wave engine and its kernel backends), ``traces``
(signal processing and misfits), ``survey`` (models and, later, field
data), ``inversion`` (bands, stages, the loop), ``report`` (plots,
summaries); ``artifacts`` stores them all. Names load on first use (PEP 562),
so ``import fwi_core.config`` (the Snakefile's validation and planning) does
not pay for numba, scipy and xarray.
"""
from __future__ import annotations

import importlib

#: public name -> module that defines it
_PUBLIC = {
    "Acquisition": "engine.acquisition", "DispersionWarning": "engine.stability",
    "Options": "engine.options", "adjoint": "engine.propagation", "as_model": "engine.grid",
    "forward": "engine.propagation", "gradient": "engine.adjoint_state",
    "release_workspace": "engine.adjoint_state", "ricker": "engine.wavelets",
    "stable_dt": "engine.stability", "misfits": "traces.misfits",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
        value = module if name == "misfits" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fwi_core' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
