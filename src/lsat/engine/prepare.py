"""Build what a run.py command needs and is missing, with the commands the workflow runs.

The seed's ``python3 run.py --RUN='train' --DATASET='demo' ...`` must work on a fresh clone.
Before training or predicting, :func:`prepare_inputs` looks for the demo world, the grid
features of the image sets the run reads and the vocabulary, and runs the same ``lsat``
commands the Snakemake rules (and DVC stages) run for the missing ones — ``lsat
demo-data``, ``lsat extract``, ``lsat vocab`` — printing each one as it starts, so the
files are those the workflow would have made. A real dataset whose raw files are missing
gets one error listing every missing file and what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lsat.config import DatasetConfig
from lsat.data.glove import GLOVE_URL
from lsat.errors import LsatError
from lsat.features.commands import expected_settings
from lsat.paths import image_dir

# (what, lsat arguments, the inputs it reads: (file, what it is)) of one missing step.
Step = tuple[str, list[str], list[tuple[Path, str]]]


def _feature_sources(ds: DatasetConfig, image_set: str) -> list[tuple[Path, str]]:
    backend = ds.features.backend
    if backend in ("npy", "npz"):
        where = Path(ds.features.source_dir or "features.source_dir")
        return [(where / image_set, f"official .{backend} features of {image_set}")]
    out = [(image_dir(ds.raw_dir, ds.format, image_set), f"{image_set} images")]
    if backend == "export":
        model = ds.features.export_model or "features.export_model"
        out.append((Path(model), "torch.export backbone (features.export_model)"))
    return out


def plan(ds: DatasetConfig, image_sets: list[str]) -> list[Step]:
    """(what, lsat arguments, inputs it reads) of each missing step, in order."""
    steps: list[Step] = []
    raw = ds.fmt.described_raw_files(ds.raw_dir, ds.fmt.needed_qsets(ds.train.splits))
    if ds.demo and not all(p.is_file() for p, _ in raw):
        steps.append(("the demo world", ["demo-data"], []))
    for image_set in image_sets:
        if ds.paths.features(image_set).is_file():
            _check_features(ds, image_set)
        else:
            args = ["extract", "--dataset", ds.name, "--image-set", image_set]
            steps.append((f"{image_set} features", args, _feature_sources(ds, image_set)))
    if not (ds.paths.vocab.is_file() and ds.paths.answers.is_file()):
        extra = [(Path(f), what) for f, what in _vocab_files(ds)]
        steps.append(("the vocabulary", ["vocab", "--dataset", ds.name], raw + extra))
    return steps


def _check_features(ds: DatasetConfig, image_set: str) -> None:
    """An existing feature file must have been made with the config's features settings
    (what ``lsat extract`` checks before it keeps a file): one error naming it otherwise."""
    from lsat.features.extract import is_complete

    is_complete(ds.paths.features(image_set), expected_settings(ds.features))


def _vocab_files(ds: DatasetConfig) -> list[tuple[str, str]]:
    return [
        (f, what)
        for f, what in (
            (
                ds.vocab.glove,
                f"GloVe 840B 300-d (vocab.glove): unzip {GLOVE_URL} here, or set vocab.glove: null",
            ),
            (ds.vocab.answer_dict, "official answer_dict.json (vocab.answer_dict)"),
        )
        if f
    ]


def prepare_inputs(
    config: str | Path,
    ds: DatasetConfig,
    image_sets: list[str],
    run_lsat: Callable[[list[str]], int],
    echo: Callable[[str], None] = print,
) -> int:
    """Run the missing steps; return how many ran. Raises one error for missing raw files.

    ``run_lsat`` is the command line's ``main`` (run.py hands it in): the engine sits below
    the CLI and never imports it.
    """
    steps = plan(ds, image_sets)
    if not ds.demo:
        missing = {p: what for _, _, inputs in steps for p, what in inputs if not p.exists()}
        if missing:
            width = max(len(str(p)) for p in missing)
            lines = "\n".join(f"  {p!s:<{width}}  {what}" for p, what in missing.items())
            raise LsatError(
                f"dataset {ds.name!r} is missing {len(missing)} input file(s); place them as "
                f"listed (or change datasets.{ds.name} in the config), see "
                f"docs/workflow.md:\n{lines}"
            )
    for i, (what, args, _) in enumerate(steps, 1):
        argv = [args[0], "--config", str(config), *args[1:]]
        echo(f"[{i}/{len(steps)}] building {what}: lsat {' '.join(argv)}")
        if run_lsat(argv) != 0:
            raise LsatError(f"building {what} failed (lsat {' '.join(argv)})")
    return len(steps)


def image_sets_for(ds: DatasetConfig, run: str) -> list[str]:
    """Image sets a run reads: train and val for training (val is trained on or validated
    against), val or test for prediction."""
    if run == "train":
        return list(ds.fmt.fit_image_sets)
    return [ds.fmt.image_set(run)]
