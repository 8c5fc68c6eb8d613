"""Tests of fwi_core.inversion.diagnostics on shifted Ricker traces with known shifts."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from fwi_core.inversion import diagnostics as D

DT = 0.002
NT = 500
F0 = 10.0


def ricker(f: float, dt: float, nt: int, t0: float) -> np.ndarray:
    t = np.arange(nt) * dt - t0
    a = (np.pi * f * t) ** 2
    return (1 - 2 * a) * np.exp(-a)


# fmax = 12.5 Hz -> half period 40 ms; 5 of the 16 traces are beyond it
# (0.045, -0.047, 0.052, -0.0445, 0.0601), 0.0381 is just inside
FMAX = 12.5
SHIFTS = np.array([[0.0, 0.005, -0.012, 0.021, -0.033, 0.045, -0.047, 0.0381],
                   [0.01, -0.002, 0.052, -0.0445, 0.019, -0.026, 0.031, 0.0601]])


def gathers(dead: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shifts = SHIFTS.copy()
    obs = np.stack([[ricker(F0, DT, NT, 0.4) for _ in row] for row in shifts])
    syn = np.stack([[ricker(F0, DT, NT, 0.4 + s) for s in row] for row in shifts])
    if dead:
        obs[0, 0] = 0.0  # dead observed trace (shift 0)
        syn[1, 5] = 0.0  # dead synthetic trace (shift -0.026)
    return syn, obs, shifts


def test_time_shifts_recover_known_shifts():
    syn, obs, shifts = gathers()
    dT = D.time_shifts(syn, obs, DT)
    assert dT.shape == shifts.shape
    np.testing.assert_allclose(dT, shifts, atol=0.1 * DT)


def test_cycle_skip_fraction_is_exact():
    syn, obs, shifts = gathers()
    risk = D.cycle_skip_risk(syn, obs, DT, FMAX)
    assert risk["half_period"] == pytest.approx(0.04)
    assert risk["n_live"] == 16
    expected = int(np.sum(np.abs(shifts) > 0.04))
    assert expected == 5
    assert risk["n_skipped"] == expected
    assert risk["fraction"] == pytest.approx(5 / 16)


def test_dead_traces_are_excluded():
    syn, obs, shifts = gathers(dead=True)
    risk = D.cycle_skip_risk(syn, obs, DT, FMAX)
    assert risk["n_live"] == 14
    assert not risk["live"][0, 0] and not risk["live"][1, 5]
    assert risk["shifts"][0, 0] == 0.0 and np.all(np.isfinite(risk["shifts"]))
    assert risk["fraction"] == pytest.approx(5 / 14)
    # a lower fmax (longer period) means no trace is beyond half a period
    assert D.cycle_skip_risk(syn, obs, DT, fmax=5.0)["fraction"] == 0.0


def test_validation():
    syn, obs, _ = gathers()
    with pytest.raises(ValueError, match="fmax"):
        D.cycle_skip_risk(syn, obs, DT, 0.0)
    with pytest.raises(ValueError, match="obs"):
        D.cycle_skip_risk(syn, obs[:1], DT, FMAX)
    risk = D.cycle_skip_risk(syn, obs, DT, FMAX)
    with pytest.raises(ValueError, match="threshold"):
        D.warn_if_cycle_skipping(risk, threshold=1.5)
    with pytest.raises(ValueError, match="offsets"):
        D.plot_cycle_skip(risk, offsets=np.zeros(3))


def test_warning_logged_only_above_threshold(caplog):
    syn, obs, _ = gathers()
    risk = D.cycle_skip_risk(syn, obs, DT, FMAX)  # fraction 5/16 = 0.3125
    logger = logging.getLogger("test_fwi_cycle_skip")
    with caplog.at_level(logging.WARNING, logger="test_fwi_cycle_skip"):
        assert D.warn_if_cycle_skipping(risk, threshold=0.2, logger=logger) is True
    assert any("cycle skipping" in r.message and "31.2%" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert D.warn_if_cycle_skipping(risk, threshold=0.35) is False
    assert not caplog.records


def test_plot_cycle_skip(tmp_path):
    syn, obs, _ = gathers()
    risk = D.cycle_skip_risk(syn, obs, DT, FMAX)
    offsets = np.linspace(-1000, 1000, 8)  # shared receivers, broadcast over shots
    path = tmp_path / "cycle_skip.png"
    fig = D.plot_cycle_skip(risk, offsets=offsets, path=path)
    assert path.exists() and path.stat().st_size > 1000
    ax_hist, ax_off = fig.axes
    assert sum(p.get_height() for p in ax_hist.patches) == 16  # every live trace counted
    vlines = sorted(line.get_xdata()[0] for line in ax_hist.lines)
    assert vlines == pytest.approx([-40.0, 40.0])
    assert len(ax_off.collections) == 2  # within / beyond half a period
    assert len(ax_off.collections[1].get_offsets()) == 5
