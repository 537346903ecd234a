# Classical baselines: the blurry input itself (identity), unsharp masking, Richardson-Lucy,
# the non-blind oracle with the pair's true kernel (known-kernel datasets only), and TV blind
# deconvolution, whose rule also declares the kernel it estimates ({pair}_kernel.png).


rule deblur_baseline:
    input:
        blurry=get_blurry,
        kernel=get_baseline_kernel,  # the true kernel, for an oracle only
    output:
        "results/deblurred/{baseline_method}/{pair}.png",
    log:
        "logs/deblur_baseline/{baseline_method}/{pair}.log",
    benchmark:
        "results/benchmarks/deblur_baseline/{baseline_method}/{pair}.tsv"
    conda:
        SOFTWARE
    resources:
        # the frame is deblurred at its full size: memory by its megapixels, per kind
        mem_mb=get_baseline_mem_mb,
    params:
        kind=lambda wildcards: METHODS[wildcards.baseline_method].kind,
        flags=get_baseline_flags,
    shell:
        "python -m deblur baseline --kind {params.kind} --image {input.blurry:q} --out {output:q}"
        " {params.flags} > {log:q} 2>&1"


rule deblur_kernel_baseline:
    input:
        blurry=get_blurry,
    output:
        image="results/deblurred/{kernel_method}/{pair}.png",
        kernel="results/deblurred/{kernel_method}/{pair}_kernel.png",
    log:
        "logs/deblur_baseline/{kernel_method}/{pair}.log",
    benchmark:
        # beside the other baselines' (cost.parquet counts them as deblur_baseline)
        "results/benchmarks/deblur_baseline/{kernel_method}/{pair}.tsv"
    conda:
        SOFTWARE
    resources:
        mem_mb=get_kernel_baseline_mem_mb,
    params:
        kind=lambda wildcards: METHODS[wildcards.kernel_method].kind,
        flags=get_kernel_baseline_flags,
    shell:
        "python -m deblur baseline --kind {params.kind} --image {input.blurry:q}"
        " --out {output.image:q} --kernel-out {output.kernel:q} {params.flags} > {log:q} 2>&1"
