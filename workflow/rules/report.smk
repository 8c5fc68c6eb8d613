# Stage 8: the final model, per-run plots + summary, comparison across runs,
# `snakemake --report`.


rule final_model:
    input:
        model=lambda w: last_model(w.run, track=True),
    output:
        directory(f"{R}/{{run}}/final_model.zarr"),
    params:
        model=lambda w: last_model(w.run),
    resources:
        **cluster("final_model"),
    log:
        f"{R}/logs/{{run}}/final_model.log",
    script:
        "../scripts/final_model.py"


rule report_run:
    input:
        unpack(report_inputs),
    output:
        summary=report(f"{R}/{{run}}/report/summary.json", category="{run}", subcategory="summary",
                       caption="../report/summary.rst"),
        history=report(f"{R}/{{run}}/report/history.csv", category="{run}", subcategory="convergence",
                       caption="../report/history.rst"),
        config=report(f"{R}/{{run}}/report/config.json", category="{run}", subcategory="summary",
                      caption="../report/config.rst"),
        models=report(f"{R}/{{run}}/report/models.png", category="{run}", subcategory="models",
                      caption="../report/models.rst"),
        gradient=report(f"{R}/{{run}}/report/gradient.png", category="{run}", subcategory="gradient",
                        caption="../report/gradient.rst"),
        shot=report(f"{R}/{{run}}/report/shot.png", category="{run}", subcategory="data",
                    caption="../report/shot.rst"),
        misfit=report(f"{R}/{{run}}/report/misfit.png", category="{run}", subcategory="convergence",
                      caption="../report/misfit.rst"),
        cycle_skip=report(f"{R}/{{run}}/report/cycle_skip.png", category="{run}", subcategory="cycle skipping",
                          caption="../report/cycle_skip.rst"),
        cycle_skip_shifts=report(f"{R}/{{run}}/report/cycle_skip_shifts.png", category="{run}",
                                 subcategory="cycle skipping", caption="../report/cycle_skip_shifts.rst"),
        cycle_skip_csv=f"{R}/{{run}}/report/cycle_skip.csv",
    params:
        run=lambda w: w.run,
        run_dir=lambda w: f"{R}/{w.run}",
        models=lambda w: [store(w.run, b, i, "model") for b, i in iterations(w.run)],
        gradients=lambda w: [store(w.run, b, i, "gradient") for b, i in iterations(w.run)],
        simulation=CFG["simulation"],
        bands=lambda w: run_cfg(w.run)["bands"],
        vmax=lambda w: run_cfg(w.run)["bounds"][1],
        cycle_skip_threshold=lambda w: run_cfg(w.run)["cycle_skip_threshold"],
        # the run's resolved config (defaults filled in, its overrides merged), for the report
        config=lambda w: {**{k: v for k, v in CFG.items() if k not in ("runs", "inversion", "execution")},
                          "inversion": run_cfg(w.run)},
    resources:
        **cluster("report_run"),
    log:
        f"{R}/logs/{{run}}/report.log",
    script:
        "../scripts/report_run.py"


rule compare:
    input:
        summaries=expand(f"{R}/{{run}}/report/summary.json", run=RUNS),
        models=expand(f"{R}/{{run}}/final_model.zarr", run=RUNS),
    output:
        table=report(f"{COMPARISON}.csv", category="comparison", caption="../report/comparison.rst"),
        plot=report(f"{COMPARISON}.png", category="comparison", caption="../report/comparison.rst"),
    resources:
        **cluster("compare"),
    log:
        f"{R}/logs/{fwicfg.comparison_name(RUNS)}.log",
    script:
        "../scripts/compare.py"


rule export:
    input:
        unpack(export_inputs),
    output:
        directory(f"{R}/{{run}}/export"),
    params:
        spec=lambda w: spec(export=CFG["export"], observed=CFG["observed"], simulation=CFG["simulation"],
                            vmax=run_cfg(w.run)["bounds"][1]),
        models=lambda w: {"final_model": last_model(w.run)} | (
            {f"band{b}_iter{i}_{k}": store(w.run, b, i, k) for b, i in iterations(w.run) for k in ("model", "gradient")}
            if CFG["export"]["iterations"] else {}),
        band=lambda w: f"{R}/{w.run}/band{len(run_cfg(w.run)['bands']) - 1}/data.zarr",
    threads: WHOLE_THREADS
    resources:
        **cluster("export"),
    log:
        f"{R}/logs/{{run}}/export.log",
    script:
        "../scripts/export.py"
