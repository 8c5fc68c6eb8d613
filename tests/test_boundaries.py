"""Absorbing layer: reflections below 1 % of the direct wave."""
import numpy as np
import pytest

import fwi_core as fwi

H, C, F0 = 10.0, 2000.0, 15.0


def _traces(nz, nx, src, rec, dt, nt, free_surface=False, pml_width=20):
    vp = fwi.as_model(np.full((nz, nx), C), H)
    w = fwi.ricker(F0, dt, nt, dtype=np.float64)
    return fwi.forward(vp, fwi.Acquisition(src, rec), w, dt, nt, pml_width=pml_width,
                       free_surface=free_surface, dtype=np.float64).values[0]


@pytest.mark.parametrize("free_surface", [False, True])
def test_reflections_below_one_percent(free_surface):
    # small model 60 x 80 cells; the source sits 10 cells from the left edge and
    # receivers line the top, left and bottom edges, so waves hit the layer at
    # normal and grazing incidence. The reference is the same geometry in a
    # domain large enough that nothing returns within the record.
    nz, nx = 60, 80
    z0 = 0.0 if free_surface else 100.0
    src = np.array([[300.0 if free_surface else 300.0, 100.0]])
    rec = np.concatenate([
        np.stack([np.full(8, 20.0 if not free_surface else 20.0), np.linspace(0, 790, 8)], 1),
        np.stack([np.linspace(0, 590, 8), np.full(8, 0.0)], 1),
        np.stack([np.full(8, 590.0), np.linspace(0, 790, 8)], 1)])
    dt = fwi.stable_dt(fwi.as_model(np.full((2, 2), C), H))
    nt = int(0.8 / dt)
    small = _traces(nz, nx, src, rec, dt, nt, free_surface)
    pad = 120  # cells added on each side (not on top with a free surface): 2.4 km of extra travel
    top = 0 if free_surface else pad
    shift = np.array([top * H, pad * H])
    big = _traces(nz + top + pad, nx + 2 * pad, src + shift, rec + shift, dt, nt, free_surface)
    direct = np.abs(big).max()
    refl = np.abs(small - big).max()
    assert refl / direct < 0.01, refl / direct
    # and the layer does something: without it the error is large
    bare = _traces(nz, nx, src, rec, dt, nt, free_surface, pml_width=0)
    assert np.abs(bare - big).max() / direct > 0.1
