# The validation accuracy table of a dataset (every split), shown in `snakemake --report`
# and printed by `lsat summary` at the end of `make demo`.


rule summary:
    input:
        metrics=lambda wildcards: [
            str(ds_of(wildcards).paths.val_metrics(s))
            for s in ds_of(wildcards).train["splits"]
        ],
        results=lambda wildcards: result_files(wildcards.dataset),
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
