# Validation: predictions of each split's final model on val, scored by the official
# metric (VQA accuracy, or CLEVR accuracy per question category).


rule predict_val:
    input:
        unpack(predict_val_input),
    output:
        predictions=P.val_predictions("{split}"),
        provenance=sidecar(P.val_predictions("{split}")),
    log:
        "logs/{dataset}/predict_val_{split}.log",
    conda:
        ENV
    threads: res("cpus")
    resources:
        gpu=lambda wildcards: gpus(wildcards, cap=1),
        mem_mb=res("mem_mb"),
        runtime=res("runtime"),
    params:
        config=CONFIG_FILE,
        split=split_of,
        run=run_flag,
    shell:
        "lsat predict --config {params.config} --dataset {wildcards.dataset}"
        " --split {params.split}{params.run} --on val > {log} 2>&1"


rule evaluate_val:
    input:
        unpack(evaluate_input),
    output:
        P.val_metrics("{split}"),
    log:
        "logs/{dataset}/evaluate_val_{split}.log",
    conda:
        ENV
    params:
        extra=evaluate_args,
    shell:
        "lsat evaluate --questions {input.questions} {params.extra}"
        " --predictions {input.predictions} --out {output} > {log} 2>&1"
