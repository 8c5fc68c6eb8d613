"""Preconditioner: symmetric PSD, mask over water and devices, smoothing length."""
import numpy as np

from fwi_core.survey import models
from fwi_core.inversion import precondition


def _setup():
    vp = models.geology((40, 80), 20.0, seed=1)
    src = np.array([[20.0, 400.0], [20.0, 1200.0]])
    rec = np.stack([np.full(20, 20.0), np.linspace(0, 1580, 20)], 1)
    illum = np.exp(-vp.z.values[:, None] / 300.0) + 0 * vp.x.values[None, :]
    return vp, src, rec, illum


def test_mask_water_and_devices():
    vp, src, rec, illum = _setup()
    m = precondition.build_mask(vp, src, rec, radius=40.0, taper=40.0)
    nw = models.water_rows(vp)
    assert nw > 0 and np.all(m[:nw] == 0)
    assert m.max() == 1.0 and m.min() == 0.0
    assert m[-1].min() == 1.0  # deep rows untouched


def test_operator_symmetric_psd():
    vp, src, rec, illum = _setup()
    P = precondition.build(vp, illum, src, rec, fmax=5.0, cfg={"smoothing": 0.2})
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=vp.shape), rng.normal(size=vp.shape)
    assert np.isclose(np.sum(P(a) * b), np.sum(a * P(b)), rtol=1e-3)
    assert np.sum(a * P(a)) >= 0
    assert P.sigma[0] > 0


def test_illumination_compensation_and_roundtrip():
    vp, src, rec, illum = _setup()
    P = precondition.build(vp, illum, src, rec, fmax=5.0, cfg={"smoothing": 0.0, "water_level": 1e-6,
                                                               "mask_water": False, "mask_radius": 0.0,
                                                               "mask_taper": 0.0})
    g = illum.copy()  # gradient decaying like the illumination
    pg = P(g)
    assert np.ptp(pg) / np.mean(pg) < 1e-3  # flattened
    Q = precondition.Preconditioner.from_dataset(P.to_dataset(vp))
    np.testing.assert_array_equal(Q(g), pg)


def test_smoothing_length_tied_to_wavelength():
    vp, *_ = _setup()
    l5 = precondition.smoothing_length(vp, 5.0, 0.5)
    l10 = precondition.smoothing_length(vp, 10.0, 0.5)
    assert np.isclose(l5, 2 * l10)
