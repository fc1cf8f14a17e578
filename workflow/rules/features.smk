# One HDF5 feature file per image set, from the images (pixels/export backends) or from
# the official per-image feature files (npy/npz). `lsat extract` resumes a .partial file.


rule extract:
    input:
        extract_input,
    output:
        P.features("{image_set}"),
    log:
        "logs/{dataset}/extract_{image_set}.log",
    conda:
        ENV
    threads: res("cpus")
    resources:
        gpu=lambda wildcards: gpus(wildcards, cap=1),
        mem_mb=res("mem_mb"),
        runtime=res("runtime"),
    params:
        config=CONFIG_FILE,
        features=lambda wildcards: {
            k: v
            for k, v in mapping_of(wildcards)["features"].items()
            if k != "batch_size"
        },
    shell:
        "lsat extract --config {params.config} --dataset {wildcards.dataset}"
        " --image-set {wildcards.image_set} > {log} 2>&1"
