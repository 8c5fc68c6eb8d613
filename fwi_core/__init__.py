"""fwi_core: an exactly-adjoint 2-D acoustic wave engine and the pieces of a
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
"""
from . import misfits
from .acquisition import Acquisition
from .gradient import gradient, release_workspace
from .grid import as_model
from .propagation import adjoint, forward
from .stability import DispersionWarning, stable_dt
from .wavelets import ricker

__all__ = ["Acquisition", "DispersionWarning", "adjoint", "as_model", "forward", "gradient",
           "misfits", "release_workspace", "ricker", "stable_dt"]
