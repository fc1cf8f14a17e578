# The validation accuracy table of a dataset (every split), shown in `snakemake --report`
# and printed by `lsat summary` at the end of `make demo`.


rule summary:
    input:
        unpack(summary_input),
    output:
        report(
            str(P.root / "val_summary.html"),
            caption="../report/summary.rst",
            category="Validation accuracy",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "logs/{dataset}/summary.log",
    conda:
        ENV
    params:
        config=CONFIG_FILE,
    shell:
        "lsat summary --config {params.config} --dataset {wildcards.dataset}"
        " --out {output} > {log} 2>&1"
