"""Configuration of the FWI workflow: the schema and loading (:mod:`.schema`),
validation with the input files (:mod:`.checks`), job planning
(:mod:`.plan`) and the jobs' requests to a cluster (:mod:`.cluster`). Light
on purpose: the Snakefile imports it to validate and plan on every call,
without the engine (numba, scipy, xarray)."""
from __future__ import annotations

from .schema import (  # noqa: F401
    ConfigError, load_schema, defaults, load_yaml, schema_errors, coerce_strings, fill_defaults,
    deep_merge, resolve_path, canonical_json, config_hash, SCHEMA_PATH)
from .checks import (  # noqa: F401
    acquisition_counts, survey_counts, segy_geometry, file_fingerprint, observed_fingerprint, source_fingerprint, n_steps, value_stats, value_errors, grid_errors,
    model_info, acquisition_errors, record_errors, physical_memory, memory_errors, run_dt,
    validate, validate_file, resolve_runs, MIN_MODEL_CELLS, DATA_COPIES_PER_JOB)
from .plan import (  # noqa: F401
    shot_seconds, band_cost_factor, auto_shots_per_job, shot_groups, run_grid, lowest_band,
    plan, band_chunks, chunk_dir, iteration_dir, iteration_subdir, data_key, comparison_name, DATA_KEYS, JOB_START_SECONDS, CELL_UPDATES_PER_SECOND, FORWARDS_PER_SHOT,
    USEFUL_FREQUENCY_FACTOR, FUSE_BAND_SECONDS_PER_TARGET)
from .cluster import (  # noqa: F401
    job_resources, filter_padding, driver_memory_warning, requests_summary, failure_hints, JOB_BASE_MB,
    GRADIENT_MEMORY_BUDGET, WAVEFIELD_BYTES_PER_POINT, MEMORY_SAFETY, RUNTIME_SAFETY, MIN_RUNTIME_MINUTES,
    SHOT_RULES, WHOLE_RULES, LOCAL_RULES)
