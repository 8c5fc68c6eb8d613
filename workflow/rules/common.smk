# Paths, wildcard constraints and input functions shared by the rule families.
import re

R = CFG["results"]
# the shared data of this study (true model, acquisition, wavelet, observed data)
# in a folder named by what defines them, so configs never overwrite each other's
KEY = fwicfg.data_key(CFG)
D = f"{R}/data/{KEY}"
COMPARISON = f"{R}/{fwicfg.comparison_name(CFG['runs'])}"
RUNS = list(CFG["runs"])
PROJECT = workflow.basedir
THREADS = CFG["execution"]["threads"]
# wavelet.type estimate: every band's signature is estimated from its starting model (band_data)
ESTIMATE = CFG["wavelet"]["type"] == "estimate"

report: "../report/workflow.rst"


wildcard_constraints:
    run="|".join(map(re.escape, RUNS)) if RUNS else "x",
    b=r"\d+",
    i=r"\d+",
    b0=r"\d+",
    b1=r"\d+",
    s0=r"\d+",
    s1=r"\d+",


def spec(**parts):
    """The config pieces a rule's script reads, by name, as canonical JSON:
    the script's input (``Job.spec[name]``) and the rule's `params` rerun trigger."""
    return fwicfg.canonical_json(parts)


def groups(run, b):
    """Shot groups "first-last" (inclusive) of a run's band (execution.shots_per_job)."""
    return PLAN["band_groups"][run][int(b)]


def run_cfg(run):
    return CFG["runs"][run]


def band_cfg(run, b):
    return run_cfg(run)["bands"][int(b)]


def band_filter(run, b):
    """What a band's data depend on: its filter (not its iterations or max_offset)."""
    return {k: v for k, v in band_cfg(run, b).items() if k in ("fmin", "fmax", "order")}


def n_iter(run, b):
    return int(band_cfg(run, b)["iterations"])


def conditioning_cfg(run, b):
    """The band's data conditioning: the run's block and the band's max_offset."""
    return {"conditioning": run_cfg(run)["conditioning"], "max_offset": band_cfg(run, b).get("max_offset")}


def it_dir(run, b, i):
    """Where iteration (b, i) of a run keeps its stores: fwi_core.config.iteration_dir,
    the one rule for the Snakefile, the scripts and the tests."""
    return fwicfg.iteration_dir(PLAN, R, run, b, i)


def store(run, b, i, kind):
    """An iteration's store: kind is model, gradient or direction."""
    return f"{it_dir(run, b, i)}/{kind}.zarr"


def tracked(run, b, i, kind):
    """What a job depends on to read that store: the store itself, or the
    directory of the fused job that writes it (Snakemake cannot depend on a
    path inside another job's directory output; the path goes in params)."""
    return fwicfg.chunk_dir(PLAN, R, run, b) or store(run, b, i, kind)


def iterations(run):
    """(band, iteration) of a run, in the order they run."""
    return [(b, i) for b in range(len(run_cfg(run)["bands"])) for i in range(n_iter(run, b))]


def previous(run, b, i):
    """The iteration whose model iteration (b, i) starts from: the previous
    iteration, the last of the previous band, or None (the initial model)."""
    b, i = int(b), int(i)
    if i > 0:
        return b, i - 1
    if b > 0:
        return b - 1, n_iter(run, b - 1) - 1
    return None


def model_in(run, b, i, track=False):
    """The model an iteration starts from (or, with track, what to depend on for it)."""
    p = previous(run, b, i)
    if p is None:
        return f"{R}/{run}/initial_model.zarr"
    return (tracked if track else store)(run, *p, "model")


def last_model(run, track=False):
    return (tracked if track else store)(run, *iterations(run)[-1], "model")


def tracked_all(run, kinds):
    """The distinct paths to depend on for the given stores of every iteration of a run."""
    return list(dict.fromkeys(tracked(run, b, i, k) for b, i in iterations(run) for k in kinds))


def grid_model():
    """The model that defines the grid of the shared data (true model or first run's initial)."""
    if "true_model" in CFG:
        return f"{D}/true_model.zarr"
    return f"{R}/{RUNS[0]}/initial_model.zarr"


def vmax_all():
    return max(inv["bounds"][1] for inv in CFG["runs"].values())


def final_targets():
    t = [f"{R}/{run}/final_model.zarr" for run in RUNS]
    t += [f"{R}/{run}/export" for run in RUNS] if "export" in CFG else []
    t += [f"{R}/{run}/report/summary.json" for run in RUNS]
    t += [f"{COMPARISON}.csv", f"{COMPARISON}.png"]
    return t


# Input functions of single rules (Snakemake's lint wants functions here, rules elsewhere).

def prev_direction(w):
    """direction: the previous iteration's direction (the optimiser's memory), if any."""
    i = int(w.i)
    return [store(w.run, w.b, i - 1, "direction")] if i > 0 else []


def chunk_bands(w):
    """invert_band: the bands b0..b1 of a fused job."""
    return list(range(int(w.b0), int(w.b1) + 1))


def report_inputs(w):
    run = w.run
    d = {
        "iterations": tracked_all(run, ("model", "gradient")),
        "initial": f"{R}/{run}/initial_model.zarr",
        "data": [f"{R}/{run}/band{b}/data.zarr" for b in range(len(run_cfg(run)["bands"]))],
        "acq": f"{D}/acquisition.zarr",
    }
    if "true_model" in CFG:
        d["true"] = f"{D}/true_model.zarr"
    return d


def export_inputs(w):
    """export: the final model (and every iteration's stores), and for data the
    observed data, the geometry and the last band's data and wavelet."""
    d = {"final": f"{R}/{w.run}/final_model.zarr"}
    if CFG["export"]["iterations"]:
        d["iterations"] = tracked_all(w.run, ("model", "gradient"))
    if CFG["export"]["data"]:
        d.update(observed=f"{D}/observed.zarr", acq=f"{D}/acquisition.zarr",
                 band=f"{R}/{w.run}/band{len(run_cfg(w.run)['bands']) - 1}/data.zarr")
    return d
