# Dataset: synthesize the embedded GoPro-like tree (default) and write the sample sheet (the
# parse-time sample, one row per pair and reference its SinGAN methods use; aggregate checks the
# metrics against it).


if PLAN.dataset["kind"] == "synthetic" and PLAN.synth_settings["mode"] == "camera":

    rule synthesize_dataset:
        output:
            [str(p.blurry) for p in PLAN.all_pairs],
            [str(p.sharp) for p in PLAN.all_pairs],
        log:
            "logs/synthesize_dataset/synthesize_dataset.log",
        conda:
            SOFTWARE
        resources:
            mem_mb=J.synth_mem_mb(config["dataset"]),  # by the frames' size
        params:
            root=lambda wildcards: config["dataset"]["root"],
            syn=config["dataset"]["synthetic"],
            split=config["dataset"]["split"],
        shell:
            "python -m deblur synth --out {params.root:q} --split {params.split}"
            " --sequences {params.syn[sequences]} --frames {params.syn[frames]}"
            " --size {params.syn[size]} --seed {params.syn[seed]} > {log:q} 2>&1"

elif PLAN.dataset["kind"] == "synthetic":

    # the known-kernel mode: the same tree plus <sequence>/kernel/NNNNNN.png (a rule of its own,
    # so the camera-mode rule and its provenance stay as they were)
    rule synthesize_dataset:
        output:
            [str(p.blurry) for p in PLAN.all_pairs],
            [str(p.sharp) for p in PLAN.all_pairs],
            [str(p.kernel) for p in PLAN.all_pairs],
        log:
            "logs/synthesize_dataset/synthesize_dataset.log",
        conda:
            SOFTWARE
        resources:
            mem_mb=J.synth_mem_mb(config["dataset"]),  # by the frames' size
        params:
            root=lambda wildcards: config["dataset"]["root"],
            syn=thaw(PLAN.synth_settings),
            split=config["dataset"]["split"],
        shell:
            "python -m deblur synth --out {params.root:q} --split {params.split}"
            " --sequences {params.syn[sequences]} --frames {params.syn[frames]}"
            " --size {params.syn[size]} --seed {params.syn[seed]} --mode {params.syn[mode]}"
            " --kernel-min {params.syn[kernel_min]} --kernel-max {params.syn[kernel_max]}"
            " --noise {params.syn[noise]} > {log:q} 2>&1"


rule sample_pairs:
    input:
        [str(p.blurry) for p in PLAN.sampled],
        [str(p.sharp) for p in PLAN.sampled],
    output:
        "results/sample/pairs.tsv",
    log:
        "logs/sample_pairs/sample_pairs.log",
    conda:
        SOFTWARE
    params:
        root=lambda wildcards: config["dataset"]["root"],
        split=config["dataset"]["split"],
        blur_dir=config["dataset"]["blur_dir"],
        sample=config["sample"],
        fewer="--allow-fewer" if config["sample"]["allow_fewer"] else "",
        references=J.sheet_references(PLAN),
    shell:
        "python -m deblur sample --root {params.root:q} --split {params.split}"
        " --blur-dir {params.blur_dir} --n {params.sample[n]} --seed {params.sample[seed]}"
        " --strategy {params.sample[strategy]} {params.fewer} {params.references}"
        " --out {output:q} > {log:q} 2>&1"
