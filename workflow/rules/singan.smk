# SinGAN: one training job per reference image (gpu), one G_0 deblurring job per method x pair.


if config["train"]["batch"] == 1:

    rule train_singan:
        input:
            image=get_reference_image,
        output:
            "results/models/{cfg}/{ref}/model.json",
        log:
            "logs/train_singan/{cfg}/{ref}.log",
        benchmark:
            "results/benchmarks/train_singan/{cfg}/{ref}.tsv"
        conda:
            SOFTWARE
        threads: config["train"]["threads"]
        resources:
            **job_resources("train"),
        params:
            out=get_model_dir,
            history=get_train_history,
            settings=get_train_settings,
            device=config["train"]["device"],
            seed=config["train"]["seed"],
            precision=config["train"]["precision"],
            compile="--compile" if config["train"]["compile"] else "",
            tf32="--tf32" if config["train"]["tf32"] else "",
            branch_max_channels=config["train"]["branch_max_channels"],
        shell:
            # Snakemake deletes the log before a job: every run's output is appended to the
            # pyramid's own history, which the log then holds whole, so a rerun after a kill keeps
            # the loss lines of the scales trained before it. Snakemake reruns this job when the
            # image or settings changed, so a pyramid of another run is set aside, not refused.
            'echo "== run started $(date), resuming if the model directory holds finished'
            ' scales ==" >> {params.history:q}; cat {params.history:q} > {log:q}; '
            "python -m deblur train --image {input.image:q} --out {params.out:q} {params.settings}"
            " --device {params.device} --seed {params.seed} --threads {threads}"
            " --precision {params.precision} {params.compile} {params.tf32}"
            " --branch-max-channels {params.branch_max_channels} --replace-other-run"
            " 2>&1 | tee -a {params.history:q} >> {log:q}"

else:
    # train.batch > 1: one job per batch of same-size pyramids (deblur.plan.group_batches),
    # declaring every member's model.json, so the deblur and evaluate rules find each model as
    # before. Every member's history gets the run's output; the batch log holds them all.
    for _batch in PLAN.train_batches:

        rule:
            name:
                _batch.rule_name
            input:
                images=J.batch_images(PLAN, _batch),
            output:
                J.batch_models(_batch),
            log:
                f"logs/train_singan_batch/{_batch.name}.log",
            benchmark:
                f"results/benchmarks/train_singan_batch/{_batch.name}.tsv"
            conda:
                SOFTWARE
            threads: config["train"]["threads"]
            resources:
                **batch_resources(_batch),
            params:
                pairs=J.batch_pairs(PLAN, _batch),
                histories=J.batch_histories(_batch),
                settings=J.train_settings(PLAN, _batch.key),
                device=config["train"]["device"],
                seed=config["train"]["seed"],
                precision=config["train"]["precision"],
                compile="--compile" if config["train"]["compile"] else "",
                tf32="--tf32" if config["train"]["tf32"] else "",
                branch_max_channels=config["train"]["branch_max_channels"],
            shell:
                'for h in {params.histories}; do echo "== batch run started $(date), resuming'
                ' finished scales ==" >> "$h"; echo "== $h ==" >> {log:q}; cat "$h" >> {log:q};'
                " done; python -m deblur train {params.pairs} {params.settings}"
                " --device {params.device} --seed {params.seed} --threads {threads}"
                " --precision {params.precision} {params.compile} {params.tf32}"
                " --branch-max-channels {params.branch_max_channels} --replace-other-run"
                " 2>&1 | tee -a {params.histories} >> {log:q}"


rule deblur_singan:
    input:
        model=get_model,
        blurry=get_blurry,
    output:
        "results/deblurred/{singan_method}/{pair}.png",
    log:
        "logs/deblur_singan/{singan_method}/{pair}.log",
    benchmark:
        "results/benchmarks/deblur_singan/{singan_method}/{pair}.tsv"
    conda:
        SOFTWARE
    threads: config["inference"]["threads"]
    resources:
        # sr readings: more with their output's size
        **dict(job_resources("inference"), mem_mb=get_deblur_mem_mb),
    params:
        model=lambda wildcards, input: Path(input.model).parent,
        flags=get_deblur_flags,
        device=config["inference"]["device"],
        seed=config["inference"]["seed"],
    shell:
        "python -m deblur deblur --model {params.model:q} --image {input.blurry:q} --out {output:q}"
        " {params.flags} --device {params.device} --seed {params.seed} --threads {threads}"
        " > {log:q} 2>&1"
