"""``lsat extract``: grid features of one image set into the HDF5 feature store.

Two ways to call it: from the pipeline config (``--config C --dataset D --image-set S``
reads ``datasets.D.features`` and writes ``results/D/features/S.h5``), or with explicit
flags (``--backend --input --out ...``). Explicit flags also override config values.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsat.config import dataset_config, load_config, validate_config
from lsat.errors import LsatError
from lsat.io import write_json_atomic
from lsat.paths import image_dir

if TYPE_CHECKING:
    from lsat.features.backends import Backend
    from lsat.settings import FeatureSettings

BACKENDS = ("pixels", "npy", "npz", "export")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's subcommands to ``lsat``."""
    p = subparsers.add_parser(
        "extract",
        help="extract or import grid features of one image set into HDF5",
        description=(
            "Write the grid features of one image set to an HDF5 feature file "
            "(resumable: rerunning after a kill continues where it stopped)."
        ),
    )
    p.add_argument("--config", help="pipeline config (config/config.yaml)")
    p.add_argument("--dataset", help="dataset name in the config (default: default_dataset)")
    p.add_argument("--image-set", help="image set, e.g. train2014 (VQA) or train (CLEVR)")
    p.add_argument("--backend", choices=BACKENDS, help="overrides features.backend")
    p.add_argument("--input", help="folder of images (.png/.jpg) or of .npy/.npz files")
    p.add_argument("--out", help="output feature file (.h5)")
    p.add_argument("--grid", type=int, help="grid side S (N = S*S cells)")
    p.add_argument("--cell-pixels", type=int, help="pixels backend: cell size p (C = 3p²)")
    p.add_argument(
        "--coords",
        action="store_true",
        default=None,
        help="pixels backend: append each cell's (x, y) centre (C = 3p² + 2)",
    )
    p.add_argument("--export-model", help="export backend: .pt2 file from torch.export.save")
    p.add_argument("--preprocess", choices=("trar", "clevr"), help="export backend grid step")
    p.add_argument("--batch-size", type=int, help="images per batch")
    p.add_argument("--workers", type=int, default=2, help="threads reading files (default 2)")
    p.add_argument("--device", help="export backend device (default: cuda if available)")
    p.add_argument("--force", action="store_true", help="redo a complete output file")
    p.set_defaults(func=run_extract)

    p = subparsers.add_parser(
        "compare-features",
        help="per-image cosine and max |Δ| between two feature sources",
        description="Compare two grid-feature sources image by image: our HDF5 feature "
        "files and/or folders of per-image .npy files (e.g. TRAR's released features).",
    )
    p.add_argument("a", help="an .h5 feature file or a folder of .npy files")
    p.add_argument("b", help="an .h5 feature file or a folder of .npy files")
    p.add_argument("--limit", type=int, default=None, help="compare the first N common ids")
    p.add_argument("--out", help="also write every image's figures to this JSON file")
    p.set_defaults(func=run_compare)


_FLAGS = ("backend", "grid", "cell_pixels", "coords", "export_model", "preprocess", "batch_size")


def resolve(args: argparse.Namespace) -> tuple[FeatureSettings, str, str]:
    """(settings, input, output) of one extraction: config values (or schema defaults)
    with the explicit flags applied."""
    if args.config:
        cfg = load_config(args.config)
        ds = dataset_config(cfg, args.dataset or cfg["default_dataset"])
    else:
        if args.dataset or args.image_set:
            raise LsatError("--dataset and --image-set need --config")
        if not (args.input and args.out):
            raise LsatError("without --config, give --input FOLDER and --out FILE.h5")
        stub = validate_config({"datasets": {"x": {"format": "vqa", "raw_dir": "."}}})
        ds = dataset_config(stub, "x")  # the schema's defaults
    flags = {key: getattr(args, key) for key in _FLAGS if getattr(args, key) is not None}
    feats = dataclasses.replace(ds.features, **flags)
    if not (args.config and not (args.input and args.out)):
        return feats, args.input, args.out
    if not args.image_set:
        raise LsatError(f"--config {args.config} needs --image-set (e.g. train2014, train)")
    images = image_dir(ds.raw_dir, ds.format, args.image_set)  # also checks the name
    if feats.backend in ("npy", "npz"):
        if not feats.source_dir:
            raise LsatError(
                f"{args.config}: datasets.{ds.name}.features.source_dir must name the folder "
                f"holding one subfolder per image set for the {feats.backend} backend"
            )
        images = Path(feats.source_dir) / args.image_set
    return feats, args.input or str(images), args.out or str(ds.paths.features(args.image_set))


def make_backend(feats: FeatureSettings, device: str | None = None) -> Backend:
    """The backend object named by ``feats.backend``."""
    from lsat.features.backends import NpyBackend, NpzBackend, PixelsBackend

    backend, grid = feats.backend, int(feats.grid)
    if grid < 1:  # argparse flags bypass the schema's minimum
        raise LsatError(f"features.grid must be at least 1; got {grid}")
    if backend == "pixels":
        cell = int(feats.cell_pixels)
        if cell < 1:
            raise LsatError(f"features.cell_pixels must be at least 1; got {cell}")
        return PixelsBackend(grid, cell, coords=bool(feats.coords))
    if backend == "npy":
        return NpyBackend(grid)
    if backend == "npz":
        return NpzBackend(grid)
    if backend == "export":
        if not feats.export_model:
            raise LsatError(
                "the export backend needs features.export_model (or --export-model): "
                "a .pt2 file written by torch.export.save"
            )
        from lsat.features.export import ExportBackend

        return ExportBackend(feats.export_model, feats.preprocess, grid, device=device)
    raise LsatError(f"unknown features backend {backend!r}: expected one of {BACKENDS}")


def expected_settings(feats: FeatureSettings) -> dict[str, Any]:
    """The attributes a complete output of ``feats`` must have recorded to be reused,
    found without loading a backbone (the export backend's is named by its file)."""
    from lsat.features.extract import settings_of

    if feats.backend == "export" and feats.export_model:
        from lsat.features.backends import export_backbone

        grid = int(feats.grid)
        if grid < 1:
            raise LsatError(f"features.grid must be at least 1; got {grid}")
        return {
            "backbone": export_backbone(feats.export_model, feats.preprocess),
            "grid": grid,
        }
    return settings_of(make_backend(feats))


def run_extract(args: argparse.Namespace) -> int:
    from lsat.features.extract import extract, is_complete
    from lsat.features.inputs import list_inputs

    feats, source, target = resolve(args)
    out = Path(target)
    if not args.force and (count := is_complete(out, expected_settings(feats))) is not None:
        print(f"{out} is already complete ({count} images); nothing to do (--force redoes it)")
        return 0
    backend = make_backend(feats, device=args.device)
    inputs = list_inputs(source, backend.suffixes, backend.what)
    extract(
        backend,
        inputs,
        target,
        source=str(source),
        batch_size=int(feats.batch_size),
        workers=args.workers,
        force=args.force,
    )
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from lsat.features.compare import compare, report

    result = compare(args.a, args.b, args.limit)
    print(report(result))
    if args.out:
        write_json_atomic(args.out, result)
    return 0
