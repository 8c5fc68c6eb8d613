import json

import numpy as np

from _common import Job, acquisition, band_data
from fwi_core import artifacts, inversion, report
from fwi_core.inversion import conditioning
from fwi_core.survey import models
from fwi_core.report import plotting

job = Job(snakemake, "report")
inp, out, run = snakemake.input, snakemake.output, snakemake.params.run
model_paths, gradient_paths = snakemake.params.models, snakemake.params.gradients  # every iteration's, in order
true = artifacts.read(inp.true, "vp") if "true" in inp.keys() else None
vp0 = artifacts.read(inp.initial, "vp")
job.uses_engine(vp0.ndim)
hist_attrs = [artifacts.open_dataset(p).attrs for p in model_paths]
final = artifacts.read(model_paths[-1], "vp")
history = report.history_from_attrs(hist_attrs)
for h, a in zip(history, hist_attrs):
    h["fmax"] = snakemake.params.bands[int(a["band"])]["fmax"]
if true is not None:
    errs = [models.relative_error(artifacts.read(p, "vp"), true) for p in model_paths]
    for h, e in zip(history, errs):
        h["model_error"] = e
    history[0]["model_error0"] = models.relative_error(vp0, true)
report.write_csv(history, out.history, list(report.HISTORY_KEYS) + ["message"])

ms = ({"true": true} if true is not None else {}) | {"initial": vp0, "final": final}
# 3-D: sections through the point the generator marked (salt stem, channel depth), else the middle
at = dict(zip(vp0.dims, true.attrs["section_at"])) if true is not None and "section_at" in true.attrs else None
acq = acquisition(inp.acq)
plotting.plot_models(ms, out.models, title=run, at=at, devices=(acq.sources, acq.receivers))
plotting.plot_gradient(artifacts.open_dataset(gradient_paths[-1]), out.gradient, title=f"{run}: last gradient")
# shot.png: the middle shot in every band, predicted by the band's first and last model; then the
# first and last shots in the last band by the final model (receivers along the line through the source)
sim, vmax = snakemake.params.simulation, snakemake.params.vmax
band_of = [int(a["band"]) for a in hist_attrs]
s, rows = acq.n_shots // 2, []


def gather_row(label, shot, d, w, syn_models):
    line, offsets = plotting.receiver_line(acq.sources, acq.receivers, shot, inversion.live_traces(acq, d)[shot])
    syn = {k: inversion.band_forward(m, acq.select([shot]), w, sim, vmax).values[0][line] for k, m in syn_models.items()}
    return {"label": label, "obs": d.values[shot][line], "offsets": offsets, "time": w.time.values, "syn": syn}


for b, path in enumerate(inp.data):
    its = [k for k, bb in enumerate(band_of) if bb == b]
    start = vp0 if its[0] == 0 else artifacts.read(model_paths[its[0] - 1], "vp")
    d, w = band_data(path)
    rows.append(gather_row(f"band {b} ({snakemake.params.bands[b]['fmax']:g} Hz), shot {s}", s, d, w,
                           {"band start": start, "band end": artifacts.read(model_paths[its[-1]], "vp")}))
for shot in sorted({0, acq.n_shots - 1} - {s}):
    rows.append(gather_row(f"band {b}, shot {shot}", shot, d, w, {"final": final}))
plotting.plot_shot(rows, out.shot, title=f"{run}: shot gathers")
plotting.plot_misfit(history, out.misfit, title=run)

cycle_skip = report.cycle_skip_report([artifacts.open_dataset(p) for p in gradient_paths], conditioning.offsets(acq),
                                      snakemake.params.cycle_skip_threshold, out.cycle_skip_csv, out.cycle_skip,
                                      out.cycle_skip_shifts, job.log)

per_band = report.misfit_decreased_per_band(history)
last_b = max(per_band)
hb = [h for h in history if h["band"] == last_b]
summary = {
    "run": run,
    "iterations": len(history),
    "bands": len(per_band),
    "misfit_decreased_in_every_band": all(per_band.values()),
    "misfit_reduction": 1.0 - hb[-1]["J"] / hb[0]["J0"] if hb[0]["J0"] else None,
    "line_search_failures": sum(h["status"] == "failed" for h in history),
    "compute_s": report.compute_seconds(snakemake.params.run_dir),
    **cycle_skip,
}
if true is not None:
    summary["model_error_initial"] = models.relative_error(vp0, true)
    summary["model_error_final"] = models.relative_error(final, true)
    summary["model_error_reduction"] = models.model_error_reduction(final, vp0, true)
with artifacts.replacing(out.summary) as tmp, open(tmp, "w") as f:
    json.dump(summary, f, indent=2)
with artifacts.replacing(out.config) as tmp, open(tmp, "w") as f:
    json.dump(snakemake.params.config, f, indent=2)
job.log.info(json.dumps(summary))
