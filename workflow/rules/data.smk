# The embedded demo world: both layouts (VQA-v2 names and CLEVR v1.0) from one seed.
# Real datasets have no rule here: their raw files are inputs the user places.


rule demo_data:
    output:
        demo_outputs(),
    log:
        "logs/demo_data.log",
    conda:
        ENV
    params:
        config=CONFIG_FILE,
        world=CFG["demo_world"],
        out_dir=DEMO_DIR,
    shell:
        # Snakemake pre-creates the output folders; demo-data only replaces folders it
        # wrote itself (or empty ones), so drop the empty ones first.
        "if [ -d {params.out_dir:q} ]; then find {params.out_dir:q} -depth -type d -empty -delete; fi;"
        " lsat demo-data --config {params.config} > {log} 2>&1"
