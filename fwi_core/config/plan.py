"""Planning the jobs before any runs: shot groups, fused band chunks and the
cost model behind them (in any dimension: a grid of cells per axis)."""
from __future__ import annotations

import math

from ..stencils import MIN_POINTS_PER_WAVELENGTH
from .checks import model_info, survey_counts
from .schema import config_hash

# ----------------------------------------------------------------------------- execution
#: Seconds a shot job spends starting (interpreter, imports, numba cache,
#: reading its inputs): about 2 s measured earlier on the 2-core machines here,
#: 1.2-1.4 s now (0.5 s to the script's first line, the jobs' logs say).
JOB_START_SECONDS = 2.0
#: Forward grid-point updates per second of one thread (order 8, measured
#: ~0.9e9 on Marmousi2 20 m), and the cost of a shot's gradient plus its
#: line-search trials in forward runs (a checkpointed gradient 4-4.5, 3
#: trials, and the illumination pass, misfit and diagnostics).
CELL_UPDATES_PER_SECOND = 9e8
FORWARDS_PER_SHOT = 8.5
#: A band's useful maximum frequency over its ``fmax`` (1.19-1.27 measured on
#: the band wavelets of the Marmousi2 schedule), for planning only.
USEFUL_FREQUENCY_FACTOR = 1.25
#: ``execution.fuse_bands: auto`` runs bands in one job when a band's estimated
#: compute is at most this many ``target_job_seconds`` (60 s by default), and
#: consecutive bands of a run share a job while their sum stays within it: a
#: crash then loses at most about a minute, and the start-up is one job's.
FUSE_BAND_SECONDS_PER_TARGET = 3.0


def shot_seconds(shape: tuple[int, ...], nt: int, pml_width: int = 20,
                 cell_updates_per_second: float = CELL_UPDATES_PER_SECOND) -> float:
    """Estimated compute (s, one thread) of one shot in one iteration on the
    model grid (``shape``: cells per axis, the absorbing layer added)."""
    return FORWARDS_PER_SHOT * math.prod(n + 2 * pml_width for n in shape) * nt / cell_updates_per_second


def band_cost_factor(spacing: tuple[float, ...], vmin: float, fmax: float, space_order: int = 8) -> float:
    """Estimated cost of a band on its own grid (``simulation.band_grids``)
    relative to the model grid: the band grid is coarser by ``r`` =
    spacing needed / model spacing (>= 1), so it has ``1/r^2`` of the points
    and takes a time step ``floor(r)`` times longer (``1/r^d`` in d dims). Planning only: the jobs
    choose the real grid from the band wavelet (:func:`fwi_core.inversion.bandgrid.choose`)."""
    h_band = vmin / (MIN_POINTS_PER_WAVELENGTH[space_order] * USEFUL_FREQUENCY_FACTOR * fmax)
    r = max(1.0, h_band / min(spacing))
    return 1.0 / (r ** len(spacing) * math.floor(r))


def auto_shots_per_job(n_shots: int, shape: tuple[int, ...], nt: int, pml_width: int = 20,
                       target_seconds: float = 10 * JOB_START_SECONDS,
                       cell_updates_per_second: float = CELL_UPDATES_PER_SECOND,
                       min_groups: int = 1, threads: int = 1, cost_factor: float = 1.0) -> int:
    """Shots per gradient/trial job so that a job computes for about ``target_seconds``.

    The default target, ten job start-ups, keeps start-up under 10 % of a
    job. A shot costs about :data:`FORWARDS_PER_SHOT` forward runs per
    iteration. Small models want several shots per job; the result is
    spread evenly so the groups have equal sizes. It is at least ``threads``
    (the job's threads, ``execution.threads``; capped at ``n_shots``): with as
    many shots as threads the engine runs one shot per thread, without
    per-time-step synchronisation. ``min_groups`` only applies where it
    leaves ``threads`` shots per job. ``cost_factor`` scales the work (a
    band on its own grid, :func:`band_cost_factor`).
    """
    threads = max(1, min(int(threads), n_shots))
    work = cost_factor * shot_seconds(shape, nt, pml_width, cell_updates_per_second)
    per_job = max(threads, min(n_shots, int(math.ceil(target_seconds / max(work, 1e-9)))))
    n_groups = max(int(math.ceil(n_shots / per_job)), min(int(min_groups), n_shots // threads))
    return int(math.ceil(n_shots / n_groups))


def shot_groups(n_shots: int, shots_per_job: int) -> list[list[int]]:
    """Consecutive shot index groups of at most ``shots_per_job`` shots."""
    spj = max(1, int(shots_per_job))
    return [list(range(i, min(i + spj, n_shots))) for i in range(0, n_shots, spj)]


def run_grid(cfg: dict, base_dir=None) -> dict | None:
    """The grid every model of the run is on (``{shape, spacing, origin}``,
    cells, m, m): the true model's, else the first run's initial model's that
    is known before any job runs (None if none is)."""
    sources = ([cfg["true_model"]] if "true_model" in cfg else []) + [inv["initial"] for inv in cfg["runs"].values()]
    for spec in sources:
        info = model_info(spec, base_dir, "", [], read_values=False)
        if info is not None:
            return info
    return None


def lowest_band(cfg: dict) -> dict:
    """The band (over all runs) with the lowest corner frequency (its ``fmin``,
    or ``fmax`` for a low-pass), as ``{fmin, fmax, order}`` with the run's
    ``filter_order`` filled in: its filter has the longest acausal precursor,
    which sets the automatic wavelet delay (``wavelet.delay: null``)."""
    bands = [{"fmin": b.get("fmin"), "fmax": b["fmax"], "order": int(b.get("order") or inv["filter_order"])}
             for inv in cfg["runs"].values() for b in inv["bands"]]
    return min(bands, key=lambda b: (b["fmin"] or b["fmax"], b["fmax"], -b["order"]))


def plan(cfg: dict, base_dir=None, cores: int = 1) -> dict:
    """What the DAG needs before any job ran: number of shots, the shot groups
    of every run and band (``band_groups[run][b]``, names "first-last"), the
    grid, whether bands are fused, the estimated compute of a band (s) and,
    when fused, the bands of each job (``band_chunks[run]``: lists of
    consecutive band indices, see :func:`band_chunks`)."""
    info = run_grid(cfg, base_dir)
    n_shots = survey_counts(cfg, base_dir, len(info["shape"]) if info else None)[0]
    grid = (info["shape"], info["spacing"]) if info else None
    ex = cfg["execution"]
    spj, fuse = ex["shots_per_job"], ex["fuse_bands"]
    band_seconds = iteration_seconds = None
    if grid is not None:
        shape, spacing = grid
        vmax = max(inv["bounds"][1] for inv in cfg["runs"].values())
        dt_est = cfg["simulation"]["dt"] or 0.5 * min(spacing) / vmax
        nt = int(cfg["simulation"]["t_max"] / dt_est) + 1
        iters = max(int(b["iterations"]) for inv in cfg["runs"].values() for b in inv["bands"])
        iteration_seconds = n_shots * shot_seconds(shape, nt, cfg["simulation"]["pml_width"])
        band_seconds = iters * iteration_seconds
    if fuse == "auto":
        # whole bands in one job where job start-ups would dominate and a crash
        # loses little: shot groups left to us, and a band's compute is short
        fuse = spj == "auto" and band_seconds is not None and band_seconds <= FUSE_BAND_SECONDS_PER_TARGET * ex[
            "target_job_seconds"]
    sim = cfg["simulation"]
    band_groups = {}
    for name, inv in cfg["runs"].items():
        per_band = []
        for band in inv["bands"]:
            if fuse:
                n = n_shots
            elif spj != "auto":
                n = int(spj)
            elif grid is None:
                n = 1
            else:  # each band's shot groups from its estimated cost on its own grid
                factor = band_cost_factor(grid[1], inv["bounds"][0], band["fmax"], sim["space_order"]) \
                    if sim["band_grids"] else 1.0
                n = auto_shots_per_job(n_shots, shape, nt, sim["pml_width"], ex["target_job_seconds"],
                                       min_groups=cores, threads=ex["threads"], cost_factor=factor)
            per_band.append([f"{g[0]}-{g[-1]}" for g in shot_groups(n_shots, min(n, n_shots))])
        band_groups[name] = per_band
    chunks = None
    if fuse:
        # an estimated wavelet is estimated per band from the band's starting model (the band_data
        # job), so a band then needs the model of the band before it from another job: one band a job
        limit = 0.0 if cfg["wavelet"]["type"] == "estimate" else \
            FUSE_BAND_SECONDS_PER_TARGET * ex["target_job_seconds"]
        chunks = {name: band_chunks([int(b["iterations"]) * iteration_seconds if iteration_seconds else None
                                     for b in inv["bands"]], limit)
                  for name, inv in cfg["runs"].items()}
    return {"n_shots": n_shots, "band_groups": band_groups, "grid": grid, "fuse_bands": bool(fuse),
            "band_seconds": band_seconds, "band_chunks": chunks}


def band_chunks(seconds: list, limit: float) -> list[list[int]]:
    """Consecutive bands grouped into jobs: a band joins the job of the band
    before it while the job's estimated compute (``seconds`` per band, None:
    unknown, alone) stays within ``limit`` seconds."""
    chunks, total = [], 0.0
    for b, sec in enumerate(seconds):
        if chunks and sec is not None and total is not None and total + sec <= limit:
            chunks[-1].append(b)
            total += sec
        else:
            chunks.append([b])
            total = sec
    return chunks


# Where the artifacts of an iteration live: the one rule for the Snakefile, the
# rule scripts and the tests.

def iteration_subdir(b: int, i: int) -> str:
    """An iteration's folder below its run (or its fused job's) directory."""
    return f"band{int(b)}/iter{int(i)}"


def chunk_dir(plan: dict, results: str, run: str, b: int) -> str | None:
    """The directory that the fused job holding band ``b`` of ``run`` writes,
    ``RESULTS/RUN/bands{b0}-{b1}`` (one Snakemake output, replaced as a whole),
    or None when the stages run as jobs of their own."""
    if not plan["fuse_bands"]:
        return None
    for chunk in plan["band_chunks"][run]:
        if int(b) in chunk:
            return f"{results}/{run}/bands{chunk[0]}-{chunk[-1]}"
    raise KeyError(f"run {run!r} has no band {b}")


def iteration_dir(plan: dict, results: str, run: str, b: int, i: int) -> str:
    """Where iteration ``i`` of band ``b`` of ``run`` keeps its stores
    (``gradient.zarr``, ``direction.zarr``, ``model.zarr``, and the shot-group
    stores of per-stage jobs): ``RESULTS/RUN/band{b}/iter{i}``, or that folder
    inside its fused job's directory (:func:`chunk_dir`)."""
    return f"{chunk_dir(plan, results, run, b) or f'{results}/{run}'}/{iteration_subdir(b, i)}"


#: The config blocks that define a study's shared data (true model,
#: acquisition, wavelet, observed data); ``simulation.band_grids`` does not.
DATA_KEYS = ("true_model", "acquisition", "wavelet", "simulation", "observed")


def data_key(cfg: dict) -> str:
    """A short hash of what defines the shared data of a (validated) config:
    the data of configs that describe different studies live in different
    folders, ``RESULTS/data/<key>/``, so running one never overwrites another's."""
    parts = {k: cfg.get(k) for k in DATA_KEYS}
    parts["simulation"] = {k: v for k, v in (cfg.get("simulation") or {}).items() if k != "band_grids"}
    return config_hash(parts, 8)


def comparison_name(runs) -> str:
    """File stem of the comparison of these runs: ``comparison_<run>+<run>``
    (a hash when that grows long), so the comparisons of different sweeps
    sharing a results folder are kept apart."""
    name = "+".join(runs)
    return f"comparison_{name if len(name) <= 60 else config_hash(sorted(runs), 8)}"
