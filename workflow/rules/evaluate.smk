# Metrics per method x pair, then tables, the regenerated paper table and plots.


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
    params:
        meta=get_eval_meta,
        model=lambda wildcards, input: (
            f"--model {shlex.quote(str(Path(input.model).parent))}"
            if "model" in input.keys()
            else ""
        ),
        max_size=lambda wildcards: SINGAN_OF[wildcards.method].max_size,
        info=lambda wildcards, input: (
            f"--meta {shlex.quote(input.info)}" if "info" in input.keys() else ""
        ),
    shell:
        "python -m deblur evaluate --pred {input.pred:q} --sharp {input.sharp:q} --max-size {params.max_size}"
        " {params.model} --meta {params.meta:q} {params.info} --out {output:q} > {log:q} 2>&1"


rule aggregate:
    input:
        metrics=get_all_metrics(),
        benchmarks=get_all_benchmarks(),
        models=get_all_models(),
    output:
        metrics=report(
            "results/tables/metrics.parquet",
            caption="../report/metrics.rst",
            category="Tables",
        ),
        summary="results/tables/summary.parquet",
        paired="results/tables/paired.parquet",
        cost="results/tables/cost.parquet",
        paper=report(
            "results/tables/paper_table.md",
            caption="../report/paper_table.rst",
            category="Tables",
        ),
    log:
        "logs/aggregate/aggregate.log",
    conda:
        SOFTWARE
    params:
        report=get_report_flags(),
    shell:
        "python -m deblur aggregate --metrics {input.metrics:q}"
        " --benchmarks {input.benchmarks:q} --benchmark-root results/benchmarks"
        " --models {input.models:q} --out-dir results/tables {params.report} > {log:q} 2>&1"


rule study:
    input:
        "results/tables/metrics.parquet",
    output:
        ablation=report(
            "results/tables/ablation.parquet",
            caption="../report/ablation.rst",
            category="Study",
        ),
        summary="results/tables/ablation_summary.parquet",
        contrasts="results/tables/ablation_contrasts.parquet",
        by_sequence="results/tables/by_sequence.parquet",
        markdown=report(
            "results/tables/ablation.md",
            caption="../report/ablation_md.rst",
            category="Study",
        ),
    log:
        "logs/study/study.log",
    conda:
        SOFTWARE
    params:
        report=get_report_flags(),
        highlight=get_highlight_flags(),
        max_highlight=config["study"]["max_highlight"],
        skipped=json.dumps(SKIPPED, sort_keys=True),
    shell:
        "python -m deblur study --metrics {input:q} --out-dir results/tables {params.report}"
        " --max-highlight {params.max_highlight} {params.highlight}"
        " --skipped {params.skipped:q} > {log:q} 2>&1"


rule plot:
    input:
        rules.aggregate.output,
        rules.study.output,
    output:
        report(
            "results/plots/psnr_by_method.png",
            caption="../report/psnr_by_method.rst",
            category="Plots",
        ),
        report(
            "results/plots/ssim_by_method.png",
            caption="../report/ssim_by_method.rst",
            category="Plots",
        ),
        report(
            "results/plots/psnr_vs_ssim.png",
            caption="../report/psnr_vs_ssim.rst",
            category="Plots",
        ),
        report(
            "results/plots/examples.png",
            caption="../report/examples.rst",
            category="Plots",
        ),
        report(
            f"results/plots/paired_vs_{config['paper']['baseline']}.png",
            caption="../report/paired.rst",
            category="Plots",
        ),
        report(
            "results/plots/study_steps.png",
            caption="../report/study_steps.rst",
            category="Study",
        ),
        report(
            "results/plots/study_paired.png",
            caption="../report/study_paired.rst",
            category="Study",
        ),
        report(
            "results/plots/study_by_sequence.png",
            caption="../report/study_by_sequence.rst",
            category="Study",
        ),
    log:
        "logs/plot/plot.log",
    conda:
        SOFTWARE
    params:
        evaluate=config["evaluate"],
        paper=config["paper"],
        highlight=get_highlight_flags(),
        max_highlight=config["study"]["max_highlight"],
    shell:
        "python -m deblur plot --tables results/tables --out-dir results/plots"
        " --reported-psnr {params.paper[psnr]} --reported-ssim {params.paper[ssim]}"
        " --reproduced-method {params.paper[method]} --baseline-method {params.paper[baseline]}"
        " --resolution {params.evaluate[resolution]} --max-highlight {params.max_highlight}"
        " {params.highlight} > {log:q} 2>&1"
