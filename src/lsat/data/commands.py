"""``lsat demo-data`` and ``lsat vocab`` (registered by ``lsat.cli``)."""

from __future__ import annotations

import argparse

from lsat.config import dataset_config, load_config, validate_config

# lsat.data.demo_files.SPLITS, repeated here so that `lsat --help` does not import Pillow.
SPLITS = ("train", "vg", "val", "test")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's subcommands to ``lsat``."""
    demo = subparsers.add_parser(
        "demo-data",
        help="generate the synthetic demo world (VQA-v2 and CLEVR layouts)",
        description="Write the deterministic demo world: settings from the config's "
        "demo_world section, each overridable by a flag.",
    )
    demo.add_argument("--config", help="config file (its demo_world section)")
    demo.add_argument("--out", help="output folder (receives vqa/ and clevr/)")
    demo.add_argument("--seed", type=int)
    for split in SPLITS:
        demo.add_argument(f"--{split}-images", type=int, metavar="N")
    demo.add_argument("--questions-per-image", type=int, metavar="N")
    demo.add_argument("--image-size", type=int, metavar="PX")
    demo.set_defaults(func=_demo_data)

    vocab = subparsers.add_parser(
        "vocab",
        help="build vocab.json and answers.json of a dataset",
        description="Token vocabulary (official source order) and answer dictionary.",
    )
    vocab.add_argument("--config", required=True)
    vocab.add_argument("--dataset", required=True)
    vocab.set_defaults(func=_vocab)


def _demo_data(args: argparse.Namespace) -> int:
    from lsat.data.demo_files import write_demo

    if args.config:
        world = load_config(args.config)["demo_world"]
    else:  # the schema defaults (a config needs one dataset to validate)
        stub = {"datasets": {"demo": {"format": "vqa", "raw_dir": "unused"}}}
        world = validate_config(stub)["demo_world"]
    images = dict(world["images"])
    for split in SPLITS:
        value = getattr(args, f"{split}_images")
        if value is not None:
            images[split] = value
    out = args.out or world["out_dir"]
    counts = write_demo(
        out,
        seed=world["seed"] if args.seed is None else args.seed,
        images=images,
        questions_per_image=args.questions_per_image or world["questions_per_image"],
        image_size=args.image_size or world["image_size"],
    )
    summary = ", ".join(f"{s} {images[s]} images / {counts[s]} questions" for s in SPLITS)
    print(f"demo world written to {out}/vqa and {out}/clevr: {summary}")
    return 0


def _vocab(args: argparse.Namespace) -> int:
    from lsat.data.vocab import build

    ds = dataset_config(load_config(args.config), args.dataset)
    info = build(ds)
    print(
        f"{ds.paths.vocab}: {info['tokens']} tokens (max_token {info['max_token']}); "
        f"{ds.paths.answers}: {info['answers']} answers"
    )
    return 0
