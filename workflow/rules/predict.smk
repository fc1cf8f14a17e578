# The test result file of the result split's model, validated by `lsat predict` before it
# is written: VQA format gives the EvalAI JSON, CLEVR also the one-answer-per-line text.


rule predict_test:
    input:
        unpack(predict_test_input),
    output:
        result=P.result_test,
        provenance=sidecar(P.result_test),
    log:
        "logs/{dataset}/predict_test.log",
    wildcard_constraints:
        dataset=datasets_of_format("vqa"),
    conda:
        ENV
    threads: res("cpus")
    resources:
        gpu=lambda wildcards: gpus(wildcards, cap=1),
        mem_mb=res("mem_mb"),
        runtime=res("runtime"),
    params:
        config=CONFIG_FILE,
        split=result_split_of,
    shell:
        "lsat predict --config {params.config} --dataset {wildcards.dataset}"
        " --split {params.split} --on test > {log} 2>&1"


use rule predict_test as predict_test_clevr with:
    output:
        json=P.result_test,
        txt=P.result_test_clevr_txt,
        provenance=sidecar(P.result_test),
    wildcard_constraints:
        dataset=datasets_of_format("clevr"),
