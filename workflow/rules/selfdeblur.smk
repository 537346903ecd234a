# SelfDeblur: one optimisation per method x pair (gpu when its device is not cpu), resumable.


rule deblur_selfdeblur:
    input:
        blurry=get_blurry,
    output:
        image="results/deblurred/{selfdeblur_method}/{pair}.png",
        kernel="results/deblurred/{selfdeblur_method}/{pair}_kernel.png",
        info="results/deblurred/{selfdeblur_method}/{pair}.json",
    log:
        "logs/deblur_selfdeblur/{selfdeblur_method}/{pair}.log",
    benchmark:
        "results/benchmarks/deblur_selfdeblur/{selfdeblur_method}/{pair}.tsv"
    conda:
        SOFTWARE
    threads: config["selfdeblur"]["threads"]
    resources:
        # it works at its max_size, but reads the whole frame
        **dict(job_resources("selfdeblur"), mem_mb=get_selfdeblur_mem_mb),
    params:
        flags=get_selfdeblur_flags,
        # outside the outputs, so a killed job's checkpoint survives Snakemake's cleanup
        checkpoint=get_selfdeblur_checkpoint,
        device=config["selfdeblur"]["device"],
        seed=config["selfdeblur"]["seed"],
    shell:
        "python -m deblur selfdeblur --image {input.blurry:q} --out {output.image:q}"
        " --kernel-out {output.kernel:q} --info {output.info:q}"
        " --checkpoint {params.checkpoint:q} {params.flags} --device {params.device}"
        " --seed {params.seed} --threads {threads} > {log:q} 2>&1"
