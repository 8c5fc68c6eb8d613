"""Stage functions of fwi_core.inversion on a small model (a few seconds)."""
import numpy as np
import pytest

import fwi_core as fwi
from fwi_core.inversion import conditioning
from fwi_core import inversion

NZ, NX, H = 30, 60, 20.0
BOUNDS = [1400.0, 3000.0]
BAND = {"fmax": 5.0}


def _problem(dtype="float32", band=BAND, delay=None, t_max=1.0):
    z = H * np.arange(NZ)[:, None] + np.zeros((1, NX))
    vt = 1800.0 + 1.5 * z
    vt[z > 300] += 300.0
    vp_true = fwi.as_model(vt.astype(np.float32), H)
    vp0 = fwi.as_model((0.95 * vt).astype(np.float32), H)
    acq = fwi.Acquisition.surface(vp_true, n_shots=2, n_receivers=30, source_depth=20.0, receiver_depth=20.0)
    dt = inversion.choose_dt(vp_true, BOUNDS[1])
    if delay == "auto":
        delay = inversion.wavelet_delay(8.0, dt, band)
    w = inversion.source_wavelet(8.0, dt, inversion.time_axis(dt, t_max).size, delay)
    sim = {"pml_width": 10, "dtype": dtype}
    d_b, w_b = inversion.prepare_band(inversion.model_data(vp_true, acq, w, sim), w, band)
    return {"vp0": vp0, "vp_true": vp_true, "acq": acq, "w": w_b, "d": d_b, "sim": sim, "dt": dt}


def _state(p, grad_parts, alphas, direction=None):
    grad = inversion.combine_gradients(p["vp0"], grad_parts, p["acq"], BAND)
    st = inversion.compute_direction(p["vp0"], grad, None, {"method": "sd"}, inversion.settings()["line_search"])
    if direction is not None:
        st["direction"].values[:] = direction
        st["mask"].values[:] = 1.0
    st.attrs["alphas"] = list(alphas)
    return grad, st


def test_trial_at_step_zero_equals_gradient_misfit():
    """Gradient and trial jobs run the same operator (CPML fixed per band), float32."""
    p = _problem("float32")
    part = inversion.shot_gradients(p["vp0"], p["acq"], p["w"], p["d"], [0, 1], p["sim"], vmax=BOUNDS[1])
    grad, st = _state(p, [part], [0.0])
    tr = inversion.shot_trials(p["vp0"], st, p["acq"], p["w"], p["d"], [0, 1], BOUNDS, p["sim"])
    np.testing.assert_allclose(tr["misfit"].values[0], part["misfit"].values, rtol=1e-6, atol=0)
    assert float(part["misfit"].sum()) > 0


COND = {"mute_before_arrival": {"velocity": 2500.0, "t0": 0.05, "taper": 0.05},
        "time_window": {"tmax": 0.9, "taper": 0.1}, "offsets": {"min": 40.0}, "normalize": "l2"}


@pytest.mark.parametrize("cond", [None, {**COND, "normalize": "none"}, COND],
                         ids=["plain", "masks", "masks+l2-normalised"])
def test_line_search_misfit_is_smooth_when_the_model_maximum_moves(cond):
    """Taylor test through the gradient and trial jobs along a perturbation of
    the fastest rows (it moves max(vp)): with the CPML reference fixed by the
    bounds the remainder falls by 4 per halving; with the model maximum as
    reference the absorbing layer changed with the trial model and it did
    not. With data conditioning (masks, trace normalisation, a band's
    max_offset) inside the misfit the gradient stays exact."""
    p = _problem("float64")
    cond = None if cond is None else conditioning.band_spec(cond, {"max_offset": 800.0})
    part = inversion.shot_gradients(p["vp0"], p["acq"], p["w"], p["d"], [0, 1], p["sim"], vmax=BOUNDS[1],
                                    conditioning=cond)
    dv = np.zeros((NZ, NX))
    dv[-3:] = 1.0
    hs = [10.0, 5.0, 2.5]
    grad, st = _state(p, [part], hs, direction=dv)
    tr = inversion.shot_trials(p["vp0"], st, p["acq"], p["w"], p["d"], [0, 1], BOUNDS, p["sim"],
                               conditioning=cond)
    J0, slope = grad.attrs["J"], float(np.sum(grad["gradient"].values * dv))
    rem = [abs(J - J0 - h * slope) for J, h in zip(tr["misfit"].values.sum(axis=1), hs)]
    ratios = [a / b for a, b in zip(rem, rem[1:])]
    assert all(3.6 < r < 4.4 for r in ratios), ratios


def test_shot_stages_pass_threads_and_are_bitwise_independent_of_them():
    """One shot per thread with as many shots as threads; the shot-ordered
    sums are then bitwise the same as with one thread."""
    import numba

    from fwi_core.engine.shots import shot_workers

    seen = []
    inversion.map_shots(lambda s, eng: seen.append((s, eng["num_threads"])), [4, 5], 100, 2)
    two = min(2, numba.config.NUMBA_NUM_THREADS)
    expect = 1 if shot_workers(2, two) > 1 else two
    assert sorted(seen) == [(4, expect), (5, expect)]
    with pytest.raises(ValueError, match="num_threads"):
        inversion.map_shots(lambda s, eng: None, [0], 100, 0)
    p = _problem("float32")
    a, b = (inversion.shot_gradients(p["vp0"], p["acq"], p["w"], p["d"], [0, 1], p["sim"], vmax=BOUNDS[1],
                                     num_threads=n) for n in (1, 2))
    for k in ("misfit", "gradient", "illumination"):
        np.testing.assert_array_equal(a[k].values, b[k].values)


def test_delayed_wavelet_survives_the_lowest_band_filter():
    """At the true model the band-filtered synthetics (filtered wavelet) match
    the band-filtered observed data once the wavelet leaves room for the
    filter's precursor; at the old delay 1.5/f they do not."""
    band = {"fmax": 3.0}

    def rel_misfit(delay):
        p = _problem("float32", band, delay, t_max=1.4)
        syn = inversion.model_data(p["vp_true"], p["acq"], p["w"], p["sim"]).values.astype(np.float64)
        obs = p["d"].values.astype(np.float64)
        return float(np.sum((syn - obs) ** 2) / np.sum(obs ** 2))

    assert rel_misfit("auto") < 1e-3
    assert rel_misfit(None) > 1e-3


def test_cycle_skip_risk_in_artifacts_and_warning_at_band_start(tmp_path, caplog):
    """A start 20 % slow at 8 Hz cycle-skips: the shot-group artifacts and the
    gradient sum carry the fraction, and the report warns for that band only."""
    import logging

    from fwi_core.inversion import diagnostics
    from fwi_core import report

    p = _problem("float32", band={"fmax": 8.0})
    bad = p["vp0"].copy(data=(p["vp0"].values / 0.95 * 0.8).astype(np.float32))
    sums = {}
    for name, vp in (("good", p["vp_true"]), ("bad", bad)):
        parts = [inversion.shot_gradients(vp, p["acq"], p["w"], p["d"], g, p["sim"], vmax=BOUNDS[1]) for g in ([0], [1])]
        for part in parts:
            assert set(part.attrs) >= {"cycle_skip_fraction", "n_live", "n_skipped", "half_period", "fmax"}
            assert part["shift"].shape == (1, p["acq"].n_receivers)
        sums[name] = inversion.combine_gradients(vp, parts, p["acq"], {"fmax": 8.0})
        sums[name].attrs.update(band=0 if name == "good" else 1, iteration=0)
    assert sums["good"].attrs["cycle_skip_fraction"] == 0.0
    assert sums["bad"].attrs["cycle_skip_fraction"] > 0.2
    assert sums["bad"].attrs["half_period"] == pytest.approx(0.5 / 8.0)
    assert diagnostics.risk_from_dataset(sums["bad"])["n_live"] == 2 * p["acq"].n_receivers
    log = logging.getLogger("test-cycle-skip")
    with caplog.at_level(logging.WARNING, logger="test-cycle-skip"):
        out = report.cycle_skip_report([sums["good"], sums["bad"]], conditioning.offsets(p["acq"]), 0.2,
                                       str(tmp_path / "cs.csv"), str(tmp_path / "cs.png"),
                                       str(tmp_path / "shifts.png"), log)
    assert out["cycle_skip_warned_bands"] == [1]
    assert "cycle skipping likely" in caplog.text and "band 1" in caplog.text and "band 0" not in caplog.text
    assert (tmp_path / "cs.png").stat().st_size > 0 and (tmp_path / "shifts.png").stat().st_size > 0
    assert "fraction" in (tmp_path / "cs.csv").read_text()
