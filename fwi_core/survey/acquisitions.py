"""The acquisition of a config: an evenly spread surface survey, listed
positions, receivers moving with each source (``acquisition.spread``), or
the geometry in SEG-Y trace headers (``observed.source: segy`` without an
acquisition block)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..engine.acquisition import Acquisition
from ..geometry import moving_spread, surface_positions
from ..traces import segy as tsegy


def from_config(acq: dict | None, vp: xr.DataArray, segy: tsegy.Gathers | None = None) -> Acquisition:
    """The :class:`~fwi_core.engine.acquisition.Acquisition` of the config's
    ``acquisition`` block (validated, defaults filled) on the model ``vp``
    (m/s; its grid places the devices), or of the SEG-Y ``segy`` gathers
    (:func:`fwi_core.traces.segy.read_geometry`) when the block is None.
    Checked inside the model; ``ValueError`` naming the key otherwise."""
    if acq is None:
        if segy is None:
            raise ValueError("acquisition: give the acquisition block or the SEG-Y geometry")
        out = Acquisition.from_segy(segy, vp)
    else:
        axes = {d: (float(vp[d].values[0]), float(vp[d].values[-1])) for d in vp.dims}
        src = surface_positions(axes, acq["n_shots"], acq["source_depth"], acq.get("source_margin", 0.0),
                                "n_shots") if "n_shots" in acq \
            else np.asarray(acq["sources"], np.float64)
        if "spread" in acq:
            out = Acquisition.per_shot(src, moving_spread(src, acq["spread"], axes["z"][0] + acq["receiver_depth"],
                                                          axes["x"]))
        elif "n_receivers" in acq:
            out = Acquisition(src, surface_positions(axes, acq["n_receivers"], acq["receiver_depth"],
                                                     acq.get("receiver_margin", 0.0), "n_receivers"))
        else:
            out = Acquisition(src, np.asarray(acq["receivers"], np.float64))
    out.check_inside(vp)
    return out
