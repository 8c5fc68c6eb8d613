import os
import time

from _common import Job
from fwi_core import artifacts, inversion, report

job = Job(snakemake, "update")
ls, bounds = job.spec["line_search"], job.spec["bounds"]
vp = artifacts.read(snakemake.input.model, "vp")
state = artifacts.open_dataset(snakemake.input.direction)
trials = [artifacts.open_dataset(p) for p in snakemake.input.trials]  # fixed (shot) order
new, info = inversion.finish_iteration(vp, state, trials, bounds, ls)
(job.log.warning if info["status"] != "armijo" else job.log.info)(info["message"])
# the iteration's compute: every job of it so far (shot gradients, sum, direction, trials) and this one
it_dir = os.path.dirname(str(snakemake.output[0]))
done = report.compute_seconds(it_dir)
per_band = job.band_iterations()   # before the write: nothing after it may fail the job
job.write(new, snakemake.output[0], iteration_s=round(done + time.perf_counter() - job.t_start, 3), **info)
# where the run stands: the jobs of its iterations so far (RUN/band{b}/iter{i}, compute summed over jobs)
spent = sum(report.compute_seconds(os.path.join(os.path.dirname(os.path.dirname(it_dir)), f"band{b}"))
            for b in range(job.band + 1))
job.log.info(report.progress_message(per_band, job.band, job.iteration, spent, sum(per_band[:job.band]) + job.iteration + 1))
