# Shared by every rule: the completed config, the path layout of lsat.paths, the config file
# the `lsat` commands read, and the input functions. The library never imports Snakemake;
# this file is the only bridge (it imports lsat, not the other way round).
import copy
import hashlib
import os
import re
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

from lsat import paths as lp
from lsat.config import dataset_config, dataset_mapping, set_dotted, validate_config
from lsat.errors import LsatError
from lsat.formats import FORMATS
from lsat.provenance import sidecar_path

DEFAULT_CONFIG_FILE = "config/config.yaml"
ENV = "../envs/lsat.yaml"

try:
    CFG = validate_config(copy.deepcopy(config), source="Snakemake config")
    DATASETS = {name: dataset_config(CFG, name) for name in CFG["datasets"]}
    # The same settings as plain mappings in the config's key order: the rules' params
    # (Snakemake compares their repr to decide reruns).
    MAPPINGS = {name: dataset_mapping(CFG, name) for name in CFG["datasets"]}
except LsatError as err:
    raise WorkflowError(str(err)) from None

DEFAULT_DATASET = CFG["default_dataset"]
if DEFAULT_DATASET not in DATASETS:
    raise WorkflowError(
        f"default_dataset {DEFAULT_DATASET!r} is not one of the configured datasets: "
        f"{', '.join(sorted(DATASETS))}"
    )

DEMO_DIR = Path(CFG["demo_world"]["out_dir"])
DEMO_DATASETS = [name for name, ds in DATASETS.items() if ds.demo]
for _name in DEMO_DATASETS:
    _ds = DATASETS[_name]
    if _ds.raw_dir != DEMO_DIR / _ds.format:
        raise WorkflowError(
            f"dataset {_name!r} has demo: true, so its raw_dir must be "
            f"{DEMO_DIR / _ds.format} (demo_world.out_dir/{_ds.format}), not {_ds.raw_dir}"
        )

# Wildcard paths of every derived file, built by lsat.paths (the one layout).
P = lp.ResultPaths(CFG["results_dir"], "{dataset}")


def sidecar(path):
    """The provenance file written beside a result file (lsat.provenance.sidecar_path)."""
    return str(sidecar_path(path))


def _effective_config_file():
    """The config file the `lsat` commands read: the same settings Snakemake uses.

    Without --configfile/--config that is config/config.yaml itself. Snakemake merges
    command-line configs into it, so then the merged, validated config is written once
    (content-addressed, identical on every re-parse, e.g. inside Slurm jobs) and used.
    """
    if not workflow.config_settings.overwrite_config:
        return DEFAULT_CONFIG_FILE
    text = yaml.safe_dump(CFG, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(".snakemake") / "lsat" / f"config-{digest}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return str(path)


CONFIG_FILE = _effective_config_file()


def _alternatives(values):
    return "|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True))


def run_dirs(ds, split):
    """``split`` itself, or ``split/RUN`` for each seed/sweep run (lsat.runs)."""
    return [f"{split}/{run.id}" if run.id else split for run in ds.runs]


# The {split} wildcard names a run folder: a split, or split/RUN with seeds or a sweep.
_RUN_DIRS = {s for fmt in FORMATS.values() for s in fmt.splits}
for _ds in DATASETS.values():
    _RUN_DIRS |= {d for s in _ds.fmt.splits for d in run_dirs(_ds, s)}


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    split=_alternatives(_RUN_DIRS),
    image_set=_alternatives(s for fmt in FORMATS.values() for s in fmt.image_sets),


def ds_of(wildcards):
    return DATASETS[wildcards.dataset]


def mapping_of(wildcards):
    """The dataset's settings as a plain mapping (for params only)."""
    return MAPPINGS[wildcards.dataset]


def split_of(wildcards):
    """The training split of a run folder (``train/seed2`` → ``train``)."""
    return wildcards.split.partition("/")[0]


def run_flag(wildcards):
    """`` --run RUN`` for a seed/sweep run, nothing for a split's single run."""
    run = wildcards.split.partition("/")[2]
    return f" --run {run}" if run else ""


_run_maps = {}


def run_mapping(wildcards):
    """The settings of one run as a plain mapping (for params only): the dataset's with
    the run's seed and sweep values (lsat.runs)."""
    ds = ds_of(wildcards)
    run_id = wildcards.split.partition("/")[2]
    key = (ds.name, run_id)
    if key not in _run_maps:
        run = next(r for r in ds.runs if r.id == run_id)
        cfg = copy.deepcopy(CFG)
        for k, v in run.overrides.items():
            set_dotted(cfg, f"datasets.{ds.name}.{k}", v)
        valid = validate_config(cfg, source="Snakemake config")
        _run_maps[key] = dataset_mapping(valid, ds.name)
    return _run_maps[key]


def qsets_needed(ds):
    """Question sets a dataset's full pipeline reads: train, val, test and VG when trained on."""
    return ds.fmt.needed_qsets(ds.train.splits)


def raw_json(ds, qsets=None):
    """Official question and annotation files of ``qsets`` (default: all that are needed)."""
    return [str(f) for f in ds.fmt.raw_files(ds.raw_dir, qsets or qsets_needed(ds))]


def feature_source(ds, image_set):
    """What `lsat extract` reads for one image set: images, or the official feature files."""
    backend = ds.features.backend
    if backend in ("npy", "npz"):
        return [str(Path(ds.features.source_dir) / image_set)]
    sources = [str(lp.image_dir(ds.raw_dir, ds.format, image_set))]
    if backend == "export":
        sources.append(ds.features.export_model)
    return sources


def _user_files(ds):
    """(path, what it is) of every user-provided input of a non-demo dataset."""
    items = [
        (str(f), what)
        for f, what in ds.fmt.described_raw_files(ds.raw_dir, qsets_needed(ds))
    ]
    backend = ds.features.backend
    if backend in ("npy", "npz") and not ds.features.source_dir:
        raise WorkflowError(
            f"dataset {ds.name!r}: features.backend {backend} needs features.source_dir"
        )
    if backend == "export" and not ds.features.export_model:
        raise WorkflowError(
            f"dataset {ds.name!r}: features.backend export needs features.export_model"
        )
    for image_set in ds.fmt.image_sets:
        for src in feature_source(ds, image_set):
            if backend in ("npy", "npz"):
                what = f"folder of official .{backend} features of {image_set} (features.source_dir)"
            elif src.endswith(".pt2"):
                what = "torch.export backbone (features.export_model)"
            else:
                what = f"folder of the {image_set} images (raw_dir/images/)"
            items.append((src, what))
    for key, what in (
        (
            ds.vocab.glove,
            "GloVe 840B 300-d (vocab.glove): unzip "
            "https://nlp.stanford.edu/data/glove.840B.300d.zip here, or set vocab.glove: null",
        ),
        (ds.vocab.answer_dict, "official answer_dict.json (vocab.answer_dict)"),
        (ds.model["checkpoint"], "checkpoint to start from (model.checkpoint)"),
    ):
        if key:
            items.append((key, what))
    return items


_checked = set()


def require_user_files(ds):
    """Fail once, listing every missing user-provided file of a real dataset and where it goes.

    Called from the input functions, so only datasets a requested target needs are checked,
    and the user sees one message instead of Snakemake's MissingInputException per file.
    """
    if ds.demo or ds.name in _checked:
        return
    missing = [(f, what) for f, what in _user_files(ds) if not Path(f).exists()]
    if missing:
        width = max(len(f) for f, _ in missing)
        lines = "\n".join(f"  {f:<{width}}  {what}" for f, what in missing)
        raise WorkflowError(
            f"dataset {ds.name!r} is missing {len(missing)} input file(s); place them as "
            f"listed (or change datasets.{ds.name} in the config), see docs/workflow.md:\n{lines}"
        )
    _checked.add(ds.name)


def checked(ds, files):
    require_user_files(ds)
    return files


# ---- input functions, one per rule ------------------------------------------------------


def extract_input(wildcards):
    ds = ds_of(wildcards)
    return checked(ds, feature_source(ds, wildcards.image_set))


def vocab_input(wildcards):
    ds = ds_of(wildcards)
    return checked(ds, raw_json(ds))


def train_input(wildcards):
    ds = ds_of(wildcards)
    rp = ds.paths
    qsets = sorted(set(ds.fmt.split_parts(split_of(wildcards))) | {"val"})
    files = {
        "features": [str(rp.features(s)) for s in ds.fmt.fit_image_sets],
        "vocab": str(rp.vocab),
        "answers": str(rp.answers),
        "raw": raw_json(ds, qsets),
    }
    if ds.model["checkpoint"]:
        files["checkpoint"] = ds.model["checkpoint"]
    return checked(ds, files)


def finetune_of(wildcards):
    ft = ds_of(wildcards).finetune
    if not ft:
        raise WorkflowError(
            f"dataset {wildcards.dataset!r} has no finetune settings "
            f"(datasets.{wildcards.dataset}.finetune)"
        )
    return ft


def finetune_input(wildcards):
    """The source run's final model (its epoch checkpoints are written along the way) and
    what training on the fine-tune split reads."""
    ds = ds_of(wildcards)
    ft = finetune_of(wildcards)
    rp = ds.paths
    qsets = sorted(set(ds.fmt.split_parts(ft["split"])) | {"val"})
    files = {
        "source": str(rp.final_model(ft["from_split"])),
        "features": [str(rp.features(s)) for s in ds.fmt.fit_image_sets],
        "vocab": str(rp.vocab),
        "answers": str(rp.answers),
        "raw": raw_json(ds, qsets),
    }
    return checked(ds, files)


def predict_val_input(wildcards):
    ds = ds_of(wildcards)
    rp = ds.paths
    return checked(
        ds,
        {
            "model": str(rp.final_model(wildcards.split)),
            "features": str(rp.features(ds.fmt.image_set("val"))),
            "vocab": str(rp.vocab),
            "answers": str(rp.answers),
            "raw": raw_json(ds, ["val"]),
        },
    )


def evaluate_input(wildcards):
    ds = ds_of(wildcards)
    files = {
        "predictions": str(ds.paths.val_predictions(wildcards.split)),
        "questions": str(ds.fmt.question_file(ds.raw_dir, "val")),
    }
    ann = ds.fmt.annotation_file(ds.raw_dir, "val")
    if ann is not None:
        files["annotations"] = str(ann)
    return checked(ds, files)


def evaluate_args(wildcards, input):
    """Format flags (the annotations, or the format whose answers are in its questions),
    and the split so that a split trained on val is labelled as such."""
    ds = ds_of(wildcards)
    split = split_of(wildcards)  # a seed/sweep run folder is labelled by its split
    if "annotations" not in input.keys():
        return f"--format {ds.fmt} --split {split}"
    return f"--annotations {input.annotations} --eval-version {ds.eval_version} --split {split}"


def predict_test_input(wildcards):
    ds = ds_of(wildcards)
    rp = ds.paths
    return checked(
        ds,
        {
            "model": str(rp.final_model(ds.result_split, _first_run(ds))),
            "features": str(rp.features(ds.fmt.image_set("test"))),
            "vocab": str(rp.vocab),
            "answers": str(rp.answers),
            "raw": raw_json(ds, ["test"]),
        },
    )


def _first_run(ds):
    """The run whose model writes the test result file (the fine-tune is a single run)."""
    return "" if ds.result_split == "finetune" else ds.runs[0].id


def result_split_of(wildcards):
    """The split (and first run) whose model writes the test result file."""
    ds = ds_of(wildcards)
    run = _first_run(ds)
    return ds.result_split + (f" --run {run}" if run else "")


# ---- resources ---------------------------------------------------------------------------


def gpus(wildcards, cap=None):
    n = ds_of(wildcards).resources.gpu
    return n if cap is None else min(n, cap)


def nproc_flag(wildcards):
    """Several GPUs per training job means DDP: one process per GPU."""
    n = gpus(wildcards)
    return f" --nproc {n}" if n > 1 else ""


def res(key):
    return lambda wildcards: getattr(ds_of(wildcards).resources, key)


# ---- demo world ---------------------------------------------------------------------------


def demo_outputs():
    files = []
    for name, fmt in FORMATS.items():
        raw = DEMO_DIR / name
        files += [str(f) for f in fmt.raw_files(raw, fmt.question_sets)]
        files += [directory(str(lp.image_dir(raw, name, s))) for s in fmt.image_sets]
    return files


# ---- targets -----------------------------------------------------------------------------


def result_files(name):
    ds = DATASETS[name]
    return [str(f) for f in ds.paths.test_results(ds.fmt)]


def dataset_targets(name):
    """What `snakemake` builds for a dataset: test result file(s), per-split model, val
    metrics, curves and the summary table."""
    ds = DATASETS[name]
    files = result_files(name)
    for split in ds.train.splits:
        for run in ds.runs:
            files += [
                str(ds.paths.final_model(split, run.id)),
                str(ds.paths.val_metrics(split, run.id)),
            ]
    if ds.finetune:
        files.append(str(ds.paths.final_model("finetune")))
    files.append(summary_path(name))
    return files


def summary_input(wildcards):
    """Every run's val metrics; with several runs also their predictions (the paired
    comparison of `lsat summary` scores each question)."""
    ds = ds_of(wildcards)
    metrics, preds = [], []
    for split in ds.train.splits:
        for run in ds.runs:
            metrics.append(str(ds.paths.val_metrics(split, run.id)))
            preds.append(str(ds.paths.val_predictions(split, run.id)))
    files = {"metrics": metrics, "results": result_files(ds.name)}
    if len(ds.runs) > 1:
        files["predictions"] = preds
    return files


def summary_path(name):
    return str(DATASETS[name].paths.root / "val_summary.html")


def datasets_of_format(fmt):
    """Wildcard pattern matching the datasets of one format (never matches when none)."""
    names = [name for name, ds in DATASETS.items() if ds.format == fmt]
    return _alternatives(names) if names else "(?!)"
