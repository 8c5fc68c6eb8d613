"""Shared test helpers."""
import os
import warnings

import numpy as np
import pytest

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _quiet_dispersion():
    """Tests choose grids on purpose; the dispersion warning is tested on its own."""
    import fwi_core as fwi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fwi.DispersionWarning)
        yield
