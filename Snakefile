# singan-deblur-bench: SinGAN blind motion deblurring as a batch benchmark.
#
#   snakemake --cores all                       # embedded synthetic dataset, CPU, minutes
#   snakemake --cores all --resources gpu=1 --configfile workflow/presets/paper.yaml \
#       --config 'dataset={root: /path/GOPRO_Large}'  # the paper's run
#
# See docs/configuration.md and workflow/schemas/config.schema.yaml for every setting.


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/singan.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/selfdeblur.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        FINAL_OUTPUTS,
