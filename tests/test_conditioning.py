"""Conditioned misfits: masks and trace normalisation inside the misfit, exact adjoint."""
import numpy as np
import pytest

from fwi_core.inversion import conditioning
from fwi_core.traces import misfits, signal

DT = 0.004
NT = 120


def _data(rng):
    t = DT * np.arange(NT)
    off = np.array([0.0, 300.0, 700.0, 1200.0, 2000.0])
    arr = 0.1 + off / 2000.0
    obs = np.exp(-((t - arr[:, None]) / 0.03) ** 2) * (1 + 0.3 * rng.standard_normal((5, 1)))
    syn = np.exp(-((t - 1.05 * arr[:, None]) / 0.03) ** 2) + 0.05 * rng.standard_normal((5, NT))
    return syn, obs, off


SPEC = {"time_window": {"tmin": 0.02, "tmax": 0.44, "taper": 0.04},
        "mute_before_arrival": {"velocity": 3000.0, "t0": 0.02, "taper": 0.03},
        "mute_after": {"tmax": 0.46, "taper": 0.02},
        "offsets": {"min": 100.0, "max": 1500.0}}


@pytest.mark.parametrize("normalize", ["none", "max", "l2"])
@pytest.mark.parametrize("name", ["l2", "ncc", "wasserstein"])
def test_adjoint_source_by_finite_differences_and_taylor(rng, name, normalize):
    syn, obs, off = _data(rng)
    f = conditioning.shot_misfit(name, {**SPEC, "normalize": normalize}, off, NT, DT)
    J, adj = f(syn, obs, DT)
    ds = rng.standard_normal(syn.shape)
    pred = float(np.sum(adj * ds))
    h = 1e-5
    fd = (f(syn + h * ds, obs, DT)[0] - f(syn - h * ds, obs, DT)[0]) / (2 * h)
    assert abs(fd - pred) <= 1e-6 * max(abs(pred), 1e-12 * abs(J)), (fd, pred)
    assert abs(pred) > 0
    rem = [abs(f(syn + e * ds, obs, DT)[0] - J - e * pred) for e in (1e-2, 5e-3, 2.5e-3)]
    assert all(3.0 < a / b < 5.0 for a, b in zip(rem, rem[1:])), rem


def test_masks_and_normalisation_apply_to_both_sides(rng):
    syn, obs, off = _data(rng)
    spec = {**SPEC, "normalize": "l2"}
    w = conditioning.weights(spec, off, NT, DT)
    assert np.all(w[0] == 0) and np.all(w[-1] == 0)        # offsets 0 and 2000 m are outside [100, 1500]
    J, _ = conditioning.shot_misfit("l2", spec, off, NT, DT)(syn, obs, DT)
    ref, _ = misfits.l2(signal.normalize_traces(w * syn, "l2"), signal.normalize_traces(w * obs, "l2"), DT)
    assert J == pytest.approx(ref, rel=1e-12)
    # a syn equal to obs inside the mask has zero misfit whatever it is outside
    J0, adj0 = conditioning.shot_misfit("l2", spec, off, NT, DT)(np.where(w > 0, obs, 5.0), obs, DT)
    assert J0 == pytest.approx(0.0, abs=1e-20) and np.all(adj0 == 0)


def test_identity_and_offset_continuation():
    assert conditioning.shot_misfit("l2", {"normalize": "none", "offsets": {"min": 0.0}}, np.zeros(3), NT, DT) == "l2"
    s = conditioning.band_spec({"offsets": {"max": 1500.0}}, {"max_offset": 800.0, "fmax": 3})
    assert s["offsets"]["max"] == 800.0
    assert conditioning.band_spec({}, {"max_offset": 900.0})["offsets"] == {"max": 900.0}
    assert conditioning.band_spec({"offsets": {"max": 500.0}}, {"max_offset": 900.0})["offsets"]["max"] == 500.0
    with pytest.raises(ValueError, match="normalize"):
        conditioning.conditioned("l2", None, "rms")
