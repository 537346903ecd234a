# Classical baselines: the blurry input itself (identity), unsharp masking, Richardson-Lucy,
# TV blind deconvolution (which also writes its kernel beside the output, {pair}_kernel.png), and
# the non-blind oracle with the pair's true kernel (known-kernel datasets only).


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
    params:
        kind=lambda wildcards: METHODS[wildcards.baseline_method]["kind"],
        flags=get_baseline_flags,
    shell:
        "python -m deblur baseline --kind {params.kind} --image {input.blurry:q} --out {output:q}"
        " {params.flags} > {log:q} 2>&1"
