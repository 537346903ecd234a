# Metrics per method x pair, then tables, the regenerated paper table and plots.

from deblur.evaluation.memory import evaluate_mem_mb


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
        mem_mb=lambda wildcards, input: evaluate_mem_mb(
            input.sharp,
            config["evaluate"]["mem_mb_base"],
            config["evaluate"]["mem_mb_per_megapixel"],
        ),
    params:
        meta=get_eval_meta,
        # --model DIR, and on known-kernel data the oracle and kernel flags (get_eval_flags)
        model=get_eval_flags,
        max_size=lambda wildcards: SINGAN_OF[wildcards.method].max_size,
        align=get_align_flags(),
        info=lambda wildcards, input: (
            f"--meta {shlex.quote(input.info)}" if "info" in input.keys() else ""
        ),
    shell:
        "python -m deblur evaluate --pred {input.pred:q} --sharp {input.sharp:q} --max-size {params.max_size}"
        " {params.align} {params.model} --meta {params.meta:q} {params.info} --out {output:q} > {log:q} 2>&1"


rule aggregate:
    input:
        metrics=get_all_metrics(),
        benchmarks=get_all_benchmarks(),
        models=get_all_models(),
        pairs="results/sample/pairs.tsv",
    output:
        **AGGREGATE_REPORTED,
    log:
        "logs/aggregate/aggregate.log",
    conda:
        SOFTWARE
    params:
        report=get_report_flags(),
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
        report=get_report_flags(),
        out_dir=lambda wildcards, output: Path(output.ablation).parent,
        highlight=get_highlight_flags(),
        max_highlight=config["study"]["max_highlight"],
        skipped=json.dumps(SKIPPED, sort_keys=True),
    shell:
        "python -m deblur study --metrics {input:q} --out-dir {params.out_dir:q} {params.report}"
        " --max-highlight {params.max_highlight} {params.highlight}"
        " --skipped {params.skipped:q} > {log:q} 2>&1"


rule plot:
    input:
        tables=rules.aggregate.output,
        study=rules.study.output,
        images=get_plot_images(),
    output:
        **PLOT_REPORTED,
    log:
        "logs/plot/plot.log",
    conda:
        SOFTWARE
    params:
        tables=lambda wildcards, input: Path(input.tables[0]).parent,
        out_dir=lambda wildcards, output: Path(output[0]).parent,
        evaluate=config["evaluate"],
        paper=config["paper"],
        highlight=get_highlight_flags(),
        max_highlight=config["study"]["max_highlight"],
    shell:
        "python -m deblur plot --tables {params.tables:q} --out-dir {params.out_dir:q}"
        " --reported-psnr {params.paper[psnr]} --reported-ssim {params.paper[ssim]}"
        " --reproduced-method {params.paper[method]} --baseline-method {params.paper[baseline]}"
        " --resolution {params.evaluate[resolution]} --max-highlight {params.max_highlight}"
        " {params.highlight} > {log:q} 2>&1"
