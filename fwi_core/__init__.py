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

The names are loaded on first use (PEP 562), so ``import fwi_core.config``
(the Snakefile's validation and planning) does not pay for numba, scipy and
xarray.
"""
from __future__ import annotations

import importlib
import sys
import types

#: public name -> module that defines it
_PUBLIC = {
    "Acquisition": "acquisition", "DispersionWarning": "stability", "adjoint": "propagation",
    "as_model": "grid", "forward": "propagation", "gradient": "gradient",
    "release_workspace": "gradient", "ricker": "wavelets", "stable_dt": "stability",
}
__all__ = sorted([*_PUBLIC, "misfits"])


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    if name == "misfits":
        return importlib.import_module(".misfits", __name__)
    raise AttributeError(f"module 'fwi_core' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``fwi_core.gradient`` is the public function, not the submodule of the
    same name: importing the submodule (which sets the package attribute)
    must not shadow it."""

    @property
    def gradient(self):
        return importlib.import_module(".gradient", __name__).gradient

    @gradient.setter
    def gradient(self, value):  # the import system's setattr(package, "gradient", module)
        pass


sys.modules[__name__].__class__ = _Package
