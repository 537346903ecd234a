# Metrics per method x pair, then tables, the regenerated paper table and plots.

# what the aggregate, study and plot rules read and are told, fixed at parse time
# (deblur.plan.jobs: every metrics file, pyramid and benchmark of this run, and every image
# `plot` may show in examples.png)
ALIGN_FLAGS = J.align_flags(config["evaluate"]["aligned"])
PAPER_FLAGS = " ".join(paper_args(PLAN.report))
REPORT_FLAGS = " ".join(report_args(PLAN.report))
HIGHLIGHT_FLAGS = J.highlight_flags(config["study"]["highlight"])
ALL_METRICS = J.all_metrics(PLAN)
ALL_MODELS = J.all_models(PLAN)
ALL_BENCHMARKS = J.all_benchmarks(PLAN, batched=config["train"]["batch"] > 1)
PLOT_IMAGES = J.plot_images(PLAN)
# output names come from deblur.outputs, which the commands write and the tests check
AGGREGATE_OUTPUTS = {
    k: f"{OUT.TABLES_DIR}/{v}" for k, v in OUT.AGGREGATE_TABLES.items()
}
STUDY_OUTPUTS = {k: f"{OUT.TABLES_DIR}/{v}" for k, v in OUT.STUDY_TABLES.items()}
PLOT_OUTPUTS = {
    name: f"{OUT.PLOTS_DIR}/{name}.png"
    for name in OUT.figure_names(PLAN.report.baseline_method)
}
FINAL_OUTPUTS = [
    *AGGREGATE_OUTPUTS.values(),
    *STUDY_OUTPUTS.values(),
    *PLOT_OUTPUTS.values(),
    "results/sample/pairs.tsv",
]
# the outputs the Snakemake report shows (key -> caption, workflow/report/<caption>.rst)
_PLOT_CAPTIONS = {n: n for n in PLOT_OUTPUTS}
_PLOT_CAPTIONS[OUT.paired_figure(PLAN.report.baseline_method)] = "paired"
AGGREGATE_REPORTED = reported(
    AGGREGATE_OUTPUTS, {"metrics": "metrics", "paper": "paper_table"}, "Tables"
)
STUDY_REPORTED = reported(
    STUDY_OUTPUTS, {"ablation": "ablation", "markdown": "ablation_md"}, "Study"
)
PLOT_REPORTED = reported(
    PLOT_OUTPUTS,
    _PLOT_CAPTIONS,
    lambda name: "Study" if name in OUT.STUDY_FIGURES else "Plots",
)


rule evaluate:
    input:
        unpack(get_eval_inputs),
    output:
        "results/metrics/{method}/{pair}.parquet",
    log:
        "logs/evaluate/{method}/{pair}.log",
    benchmark:
        "results/benchmarks/evaluate/{method}/{pair}.tsv"
    conda:
        SOFTWARE
    resources:
        # grows with the frame: scores are also computed at full resolution
        mem_mb=get_eval_mem_mb,
    params:
        meta=get_eval_meta,
        # --model DIR, and on known-kernel data the oracle and kernel flags (get_eval_flags)
        model=get_eval_flags,
        max_size=lambda wildcards: METHODS[wildcards.method].max_size,
        align=ALIGN_FLAGS,
        info=get_eval_info_flag,
    shell:
        "python -m deblur evaluate --pred {input.pred:q} --sharp {input.sharp:q} --max-size {params.max_size}"
        " {params.align} {params.model} --meta {params.meta:q} {params.info} --out {output:q} > {log:q} 2>&1"


rule aggregate:
    input:
        metrics=ALL_METRICS,
        benchmarks=ALL_BENCHMARKS,
        models=ALL_MODELS,
        pairs="results/sample/pairs.tsv",
    output:
        **AGGREGATE_REPORTED,
    log:
        "logs/aggregate/aggregate.log",
    conda:
        SOFTWARE
    params:
        report=REPORT_FLAGS,
        out_dir=lambda wildcards, output: Path(output.metrics).parent,
    shell:
        "python -m deblur aggregate --metrics {input.metrics:q}"
        " --benchmarks {input.benchmarks:q} --benchmark-root results/benchmarks"
        " --models {input.models:q} --pairs {input.pairs:q} --out-dir {params.out_dir:q}"
        " {params.report} > {log:q} 2>&1"


rule study:
    input:
        AGGREGATE_OUTPUTS["metrics"],
    output:
        **STUDY_REPORTED,
    log:
        "logs/study/study.log",
    conda:
        SOFTWARE
    params:
        report=REPORT_FLAGS,
        out_dir=lambda wildcards, output: Path(output.ablation).parent,
        highlight=HIGHLIGHT_FLAGS,
        max_highlight=config["study"]["max_highlight"],
        skipped=J.dropped_json(PLAN),
    shell:
        "python -m deblur study --metrics {input:q} --out-dir {params.out_dir:q} {params.report}"
        " --max-highlight {params.max_highlight} {params.highlight}"
        " --skipped {params.skipped:q} > {log:q} 2>&1"


rule plot:
    input:
        tables=rules.aggregate.output,
        study=rules.study.output,
        images=PLOT_IMAGES,
    output:
        **PLOT_REPORTED,
    log:
        "logs/plot/plot.log",
    conda:
        SOFTWARE
    params:
        tables=lambda wildcards, input: Path(input.tables[0]).parent,
        out_dir=lambda wildcards, output: Path(output[0]).parent,
        paper=PAPER_FLAGS,
        highlight=HIGHLIGHT_FLAGS,
        max_highlight=config["study"]["max_highlight"],
    shell:
        "python -m deblur plot --tables {params.tables:q} --out-dir {params.out_dir:q}"
        " {params.paper} --max-highlight {params.max_highlight}"
        " {params.highlight} > {log:q} 2>&1"
