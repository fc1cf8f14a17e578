# One training run per configured split. Checkpoints are not declared outputs, so a failed
# or killed job keeps them and the retry resumes from checkpoints/last.pt.


rule train:
    input:
        unpack(train_input),
    output:
        model=P.final_model("{split}"),
        metrics=P.train_metrics("{split}"),
        epochs=P.train_epochs("{split}"),
        log=P.train_log("{split}"),
        curves=report(
            P.curves("{split}"),
            caption="../report/curves.rst",
            category="Training curves",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "split": "{split}"},
        ),
    log:
        "logs/{dataset}/train_{split}.log",
    retries: 2
    conda:
        ENV
    threads: res("cpus")
    resources:
        gpu=gpus,
        mem_mb=res("mem_mb"),
        runtime=res("runtime"),
    params:
        config=CONFIG_FILE,
        # The run's own settings: adding a seed or sweep value does not rerun other runs.
        model=lambda wildcards: run_mapping(wildcards)["model"],
        train=lambda wildcards: {
            k: v
            for k, v in run_mapping(wildcards)["train"].items()
            if k not in ("splits", "result_split", "seeds")
        },
        split=split_of,
        run=run_flag,
        nproc=nproc_flag,
    shell:
        "lsat train --config {params.config} --dataset {wildcards.dataset}"
        " --split {params.split}{params.run}{params.nproc} > {log} 2>&1"


# The maintainers' recipe for test-dev (lsat.engine.finetune): continue a trained split's
# epoch checkpoint on another split. Only for datasets with a `finetune` block.
rule finetune:
    input:
        unpack(finetune_input),
    output:
        model=P.final_model("finetune"),
        metrics=P.train_metrics("finetune"),
        epochs=P.train_epochs("finetune"),
        log=P.train_log("finetune"),
        curves=report(
            P.curves("finetune"),
            caption="../report/curves.rst",
            category="Training curves",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "split": "finetune"},
        ),
    log:
        "logs/{dataset}/train_finetune.log",
    retries: 2
    conda:
        ENV
    threads: res("cpus")
    resources:
        gpu=gpus,
        mem_mb=res("mem_mb"),
        runtime=res("runtime"),
    params:
        config=CONFIG_FILE,
        finetune=lambda wildcards: finetune_of(wildcards),
        model=lambda wildcards: mapping_of(wildcards)["model"],
        train=lambda wildcards: {
            k: v
            for k, v in mapping_of(wildcards)["train"].items()
            if k not in ("splits", "result_split")
        },
        nproc=nproc_flag,
    shell:
        "lsat train --config {params.config} --dataset {wildcards.dataset}"
        " --split finetune{params.nproc} > {log} 2>&1"
