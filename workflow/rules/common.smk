# Paths, wildcard constraints and input functions shared by the rule families.
import json

R = CFG["results"]
RUNS = list(CFG["runs"])
PROJECT = workflow.basedir
THREADS = CFG["execution"]["threads"]

report: "../report/workflow.rst"


wildcard_constraints:
    run="|".join(RUNS) if RUNS else "x",
    b=r"\d+",
    i=r"\d+",
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
    return f"{R}/{run}/band{int(b)}/iter{int(i)}"


def model_in(run, b, i):
    """The model an iteration starts from: the previous iteration's update, the
    last model of the previous band, or the initial model."""
    b, i = int(b), int(i)
    if i > 0:
        return f"{it_dir(run, b, i - 1)}/model.zarr"
    if b > 0:
        return f"{it_dir(run, b - 1, n_iter(run, b - 1) - 1)}/model.zarr"
    return f"{R}/{run}/initial_model.zarr"


def last_model(run):
    nb = len(run_cfg(run)["bands"])
    return f"{it_dir(run, nb - 1, n_iter(run, nb - 1) - 1)}/model.zarr"


def all_models(run):
    return [f"{it_dir(run, b, i)}/model.zarr"
            for b in range(len(run_cfg(run)["bands"])) for i in range(n_iter(run, b))]


def grid_model():
    """The model that defines the grid of the shared data (true model or first run's initial)."""
    if "true_model" in CFG:
        return f"{R}/data/true_model.zarr"
    return f"{R}/{RUNS[0]}/initial_model.zarr"


def vmax_all():
    return max(inv["bounds"][1] for inv in CFG["runs"].values())


def final_targets():
    t = [f"{R}/{run}/final_model.zarr" for run in RUNS]
    t += [f"{R}/{run}/report/summary.json" for run in RUNS]
    t += [f"{R}/comparison.csv", f"{R}/comparison.png"]
    return t
