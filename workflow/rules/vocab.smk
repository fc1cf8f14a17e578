# Question vocabulary (all present question sources, official order) and the answer list.


rule vocab:
    input:
        vocab_input,
    output:
        vocab=P.vocab,
        answers=P.answers,
    log:
        "logs/{dataset}/vocab.log",
    conda:
        ENV
    params:
        config=CONFIG_FILE,
        vocab=lambda wildcards: mapping_of(wildcards)["vocab"],
    shell:
        "lsat vocab --config {params.config} --dataset {wildcards.dataset} > {log} 2>&1"
