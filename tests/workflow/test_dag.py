"""The Snakemake DAG without running it: lint, jobs, resources, errors, and agreement with
dvc.yaml (same `lsat` commands on the same inputs and outputs for the same config)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from wf_helpers import BIN, REPO, make_project, run, snakemake, text, tiny_config, write_config

LSAT_CMD = re.compile(r"(lsat \S+.*?)(?:\s*>\s*\S+\s+2>&1)?\s*$")


def normalise(cmd: str) -> str:
    """The `lsat ...` part of a shell command, whitespace collapsed, log redirect dropped."""
    cmd = " ".join(cmd.split())
    start = cmd.index("lsat ")
    match = LSAT_CMD.match(cmd[start:])
    assert match, cmd
    return match.group(1)


def snakemake_jobs(project: Path, *targets: str) -> dict[str, dict[str, set[str]]]:
    """Normalised command → {inputs, outputs} of every job of ``targets`` (dry run)."""
    out = snakemake(project, "-n", "-p", *(targets or ["all"])).stdout
    jobs: dict[str, dict[str, set[str]]] = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", out, flags=re.M)[1:]:
        fields = dict(re.findall(r"^\s+(input|output): (.*)$", block, flags=re.M))
        shell = re.search(r"^Shell command: (.*)$", block, flags=re.M)
        if shell is None or shell.group(1) == "None":  # rule all
            continue
        jobs[normalise(shell.group(1))] = {
            f"{key}s": set(fields.get(key, "").split(", ")) - {""} for key in ("input", "output")
        }
    return jobs


def dvc_stages(project: Path) -> dict[str, dict[str, set[str]]]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    repo = Repo(str(project), uninitialized=True)
    stages = {}
    for stage in repo.index.stages:
        deps = {d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)}
        outs = {o.def_path for o in stage.outs}
        stages[normalise(stage.cmd)] = {"inputs": deps, "outputs": outs, "name": stage.addressing}
    return stages


def covers(paths: set[str], others: set[str]) -> bool:
    """Every path of ``others`` is one of ``paths`` or lies inside one of them."""
    return all(any(o == p or o.startswith(p.rstrip("/") + "/") for p in paths) for o in others)


def test_lint_and_format(project):
    assert "good condition" in text(snakemake(project, "--lint"))
    run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow"], project)


def _every_dataset_config() -> dict:
    """The tiny demo (with two seeds) plus VQA-v2, CLEVR (a sweep) and the CLEVR demo."""
    cfg = tiny_config()
    cfg["datasets"]["demo"]["train"]["seeds"] = [1, 2]
    cfg["datasets"]["demo"]["finetune"] = None  # a fine-tune continues a single run
    cfg["datasets"]["demo-single"] = {  # the fine-tune: a one-run dataset
        **copy.deepcopy(tiny_config()["datasets"]["demo"]),
        "raw_dir": "data/demo/vqa",
    }
    cfg["datasets"]["demo-clevr"] = {
        "format": "clevr",
        "raw_dir": "data/demo/clevr",
        "demo": True,
        "features": {"backend": "pixels", "grid": 4, "cell_pixels": 2},
        "train": {"splits": ["train"]},
    }
    cfg["datasets"]["vqa"] = {
        "format": "vqa",
        "raw_dir": "raw/vqa",
        "features": {"backend": "npy", "source_dir": "feats", "grid": 8},
        "train": {"splits": ["train", "train+val+vg"]},
        "resources": {"gpu": 1},
    }
    cfg["datasets"]["clevr"] = {
        "format": "clevr",
        "raw_dir": "raw/clevr",
        "features": {"backend": "export", "export_model": "raw/backbone.pt2", "grid": 14},
        "sweep": {"model.name": ["trar", "mcan"]},
    }
    return cfg


def _place_user_files(project: Path, cfg: dict) -> None:
    """Empty stand-ins for every file a user places for the real datasets."""
    from lsat import paths as lp
    from lsat.formats import format_of

    for ds in ("vqa", "clevr"):
        d = cfg["datasets"][ds]
        for f in lp.raw_files(project / d["raw_dir"], d["format"]):
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("{}")
        for image_set in format_of(d["format"]).image_sets:
            (project / d["raw_dir"] / "images" / image_set).mkdir(parents=True)
            if ds == "vqa":
                (project / "feats" / image_set).mkdir(parents=True)
    (project / "raw" / "backbone.pt2").write_text("")


def test_dvc_and_snakemake_agree_for_every_dataset(tmp_path):
    cfg = _every_dataset_config()
    project = make_project(tmp_path / "p", cfg)
    _place_user_files(project, cfg)
    targets = [f"results/{name}/val_summary.html" for name in cfg["datasets"]]
    targets.append("results/demo-single/finetune/model.pt")
    sm, dv = snakemake_jobs(project, *targets), dvc_stages(project)
    assert sorted(sm) == sorted(dv), "the two DAGs run different commands"
    for cmd, job in sm.items():
        stage = dv[cmd]
        where = f"{cmd}\n(dvc stage {stage['name']})"
        # DVC may name a folder where Snakemake names the files in it (demo_data).
        assert covers(stage["outputs"], job["outputs"]), f"outputs differ: {where}"
        assert covers(job["outputs"], stage["outputs"]) or all(
            any(j.startswith(o + "/") for j in job["outputs"]) for o in stage["outputs"]
        ), f"outputs differ: {where}"
        # DVC stages also depend on the code they run; Snakemake reruns on code edits only
        # when asked (--rerun-triggers), so src/lsat is DVC's alone.
        assert "src/lsat" in stage["inputs"], where
        assert job["inputs"] == stage["inputs"] - {"src/lsat"}, f"inputs differ: {where}"
    names = [stage["name"].rsplit(":", 1)[-1] for stage in dv.values()]
    for ds in cfg["datasets"]:
        assert f"predict_test-{ds}" in names and f"summary-{ds}" in names
    assert "train-demo-train-seed2" in names and "train-clevr-train-model_name_mcan" in names
    assert "train-vqa-train_val_vg" in names
    assert "finetune-demo-single" in names
    # demo 2 seeds × 2 splits, demo-single 2, demo-clevr 1, vqa 2 splits, clevr 2 models
    assert sum(n.startswith("train-") for n in names) == 11


def test_committed_dvc_yaml_matches_the_config():
    proc = run([str(BIN / "lsat"), "dvc-yaml", "--check"], REPO)
    assert "matches config/config.yaml" in proc.stdout


def test_dvc_params_exist_in_config():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for entry in body.get("params", []):
            for key in entry["config/config.yaml"]:
                node = cfg
                for part in key.split("."):
                    assert part in node, f"dvc stage {name}: {key} not in config/config.yaml"
                    node = node[part]


def test_default_target_jobs(project):
    out = text(snakemake(project, "-n", "--quiet", "rules"))
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert counts == {
        "all": "1",
        "demo_data": "1",
        "extract": "3",
        "vocab": "1",
        "train": "2",
        "finetune": "1",
        "predict_val": "2",
        "evaluate_val": "2",
        "predict_test": "1",
        "summary": "1",
        "total": "15",
    }


def test_shipped_demo_trains_one_run_and_writes_the_result_from_its_fine_tune(tmp_path):
    """`make demo`'s DAG (the repository's config): one training run (train), the fine-tune
    on train+val writes the result file; no second 40-epoch run on train+val."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    project = make_project(tmp_path / "p", cfg)
    out = text(snakemake(project, "-n", "--quiet", "rules"))
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert counts["train"] == "1" and counts["finetune"] == "1" and counts["total"] == "12"
    jobs = snakemake_jobs(project)
    trains = [c for c in jobs if c.startswith("lsat train ")]
    assert sorted(c.split("--split ")[1] for c in trains) == ["finetune", "train"]
    test = [c for c in jobs if c.startswith("lsat predict ") and "--on test" in c]
    assert test and all("--split finetune" in c for c in test)


def test_gpus_become_resources_and_ddp(tmp_path):
    cfg = tiny_config()
    cfg["datasets"]["demo"]["resources"] = {"gpu": 2, "cpus": 4, "mem_mb": 3000, "runtime": 7}
    project = make_project(tmp_path / "p", cfg)
    out = text(snakemake(project, "-n", "-p", "--cores", "4", "results/demo/train/model.pt"))
    train = out[out.index("rule train:") :]
    assert re.search(r"resources: .*gpu=2", train) and "mem_mb=3000" in train
    assert "runtime=7" in train and "threads: 4" in train
    assert "lsat train --config config/config.yaml --dataset demo --split train --nproc 2" in out
    extract = out[out.index("rule extract:") :]
    assert re.search(r"resources: .*gpu=1", extract.split("\n\n")[0])


def test_missing_raw_files_one_message(tmp_path):
    cfg = tiny_config()
    cfg["datasets"]["vqa"] = {
        "format": "vqa",
        "raw_dir": "raw",
        "features": {"backend": "npy", "source_dir": "feats", "grid": 8},
        "train": {"splits": ["train+val+vg"]},
    }
    project = make_project(tmp_path / "p", cfg)
    (project / "raw").mkdir()
    (project / "raw" / "v2_OpenEnded_mscoco_train2014_questions.json").write_text("{}")
    proc = snakemake(project, "-n", "results/vqa/result_test.json", check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "dataset 'vqa' is missing 9 input file(s)" in text
    for name in (
        r"raw/v2_mscoco_train2014_annotations.json\s+VQA-v2 train annotations",
        r"raw/v2_OpenEnded_mscoco_test2015_questions.json\s+VQA-v2 test questions",
        r"raw/VG_questions.json\s+VQA-v2 vg questions",
        r"raw/VG_annotations.json\s+VQA-v2 vg annotations",
        r"feats/test2015\s+folder of official .npy features of test2015",
    ):
        assert re.search(name, text), name
    assert "raw/v2_OpenEnded_mscoco_train2014_questions.json" not in text  # it exists
    assert "MissingInputException" not in text


def test_invalid_config_fails_at_parse_time(project):
    cfg = tiny_config()
    cfg["datasets"]["demo"]["train"]["max_epoch"] = 0
    write_config(project, cfg)
    proc = snakemake(project, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "max_epoch" in out
    # The library's one line, not Snakemake's validate() with the whole schema after it.
    line = "invalid value at datasets.demo.train.max_epoch: 0 is less than the minimum of 1"
    assert line in out and "Failed validating" not in out and "properties" not in out
    assert len(out.strip().splitlines()) <= 5, out


def test_command_line_config_is_what_lsat_reads(project):
    """--config/--configfile are merged by Snakemake; lsat must read the merged settings."""
    extra = project / "more.yaml"
    extra.write_text("datasets: {demo: {train: {max_epoch: 3}}}\n")
    proc = snakemake(project, "-n", "-p", "results/demo/train/model.pt", "--configfile", str(extra))
    used = re.search(r"lsat train --config (\S+)", text(proc)).group(1)
    assert used.startswith(".snakemake/lsat/config-")
    merged = yaml.safe_load((project / used).read_text())
    assert merged["datasets"]["demo"]["train"]["max_epoch"] == 3
    assert merged["datasets"]["demo"]["train"]["batch_size"] == 32  # from config.yaml


@pytest.mark.parametrize("bad", ["data/elsewhere"])
def test_demo_raw_dir_must_match_demo_world(project, bad):
    cfg = tiny_config()
    cfg["datasets"]["demo"]["raw_dir"] = bad
    write_config(project, cfg)
    proc = snakemake(project, "-n", check=False)
    assert proc.returncode != 0
    assert "its raw_dir must be data/demo/vqa" in proc.stdout + proc.stderr
