# LSAT-VQA pipeline: raw data → features → vocabulary → training → evaluation → result file.
# Every rule calls one `lsat` command; dvc.yaml runs the same commands on the same paths.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# Validated by the library (lsat.config, the schema workflow/schemas links to) in
# common.smk, so a config error is the same one line as `lsat` prints (Snakemake's own
# validate() appends the whole schema to it).


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/vocab.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/report.smk"


# Light bookkeeping runs where Snakemake runs, not as cluster jobs.
localrules:
    all,
    evaluate_val,
    summary,


rule all:
    default_target: True
    input:
        dataset_targets(DEFAULT_DATASET),
