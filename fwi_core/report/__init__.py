"""What a person looks at after a run: figures (:mod:`.plotting`) and the
run summary, history and comparison tables (:mod:`.summary`)."""
from __future__ import annotations

from .summary import (  # noqa: F401
    HISTORY_KEYS, history_from_attrs, compute_seconds, progress_message, misfit_decreased_per_band, write_csv, cycle_skip_rows,
    warn_cycle_skipping_bands, cycle_skip_report)
