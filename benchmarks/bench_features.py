"""Feature loading: the project's HDF5 Dataset/DataLoader versus one ``.npy`` file per sample.

The official TRAR layout stores one float16 ``.npy`` per image and opens it for every
question. Both loaders here read the *same* features (written once by this script, with
official-style ``<image_id>.npy`` files and one HDF5 file through ``FeatureWriter``), iterate
one shuffled epoch of questions in batches of 64 through a ``torch.utils.data.DataLoader``,
and each runs in its own subprocess so that peak memory (max RSS) is its own.

    python benchmarks/bench_features.py --images 2000 --workers 0,2
    python benchmarks/bench_features.py --drop-caches      # cold page cache too (root only)

Variants: ``npy`` (per-file, as the official code: one ``np.load`` and one float32 conversion
per question, collated by the DataLoader) and the engine's own ``BatchSource`` with
``hdf5`` (``residency: disk``: a DataLoader whose items are whole batches read by
``QADataset.read_batch``) and ``ram`` (``residency: ram``: one gather from the in-memory bank
per batch, no DataLoader). Every variant yields float32 feature batches on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lsat.config import dataset_config, validate_config
from lsat.data.dataset import build_dataset
from lsat.engine.batches import BatchSource
from lsat.engine.cpu import retain_freed_memory
from lsat.features.store import FeatureWriter
from lsat.paths import ResultPaths, annotation_file, question_file


def write_fixture(root: Path, images: int, per_image: int, grid: int, channels: int) -> dict:
    """Raw VQA train files, vocab/answers, official .npy files and the HDF5 file."""
    raw, npy_dir = root / "raw", root / "npy" / "train2014"
    raw.mkdir(parents=True, exist_ok=True)
    npy_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = np.arange(1, images + 1, dtype=np.int64) * 7
    questions, annotations = [], []
    for image_id in ids.tolist():
        for k in range(per_image):
            qid = image_id * 10 + k
            questions.append({"image_id": image_id, "question": "what is it?", "question_id": qid})
            answers = [
                {"answer": "yes", "answer_confidence": "yes", "answer_id": j + 1} for j in range(10)
            ]
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": image_id,
                    "answer_type": "yes/no",
                    "question_type": "what",
                    "multiple_choice_answer": "yes",
                    "answers": answers,
                }
            )
    question_file(raw, "vqa", "train").write_text(json.dumps({"questions": questions}))
    annotation_file(raw, "vqa", "train").write_text(json.dumps({"annotations": annotations}))
    results = root / "results"
    paths = ResultPaths(results, "bench")
    paths.vocab.parent.mkdir(parents=True, exist_ok=True)
    tokens = {"PAD": 0, "UNK": 1, "CLS": 2, "what": 3, "is": 4, "it": 5}
    paths.vocab.write_text(json.dumps({"token_to_ix": tokens, "max_token": 14}))
    paths.answers.write_text(json.dumps([{"yes": 0, "no": 1}, {"0": "yes", "1": "no"}]))
    writer = FeatureWriter(
        paths.features("train2014"),
        ids,
        grid=grid,
        channels=channels,
        backbone="random",
        source="bench",
    )
    for start in range(0, images, 256):
        rows = list(range(start, min(images, start + 256)))
        feats = rng.standard_normal((len(rows), grid * grid, channels)).astype(np.float16)
        writer.write(rows, feats)
        for row, feat in zip(rows, feats, strict=True):
            np.save(npy_dir / f"{ids[row]}.npy", feat)
    writer.finish()
    cfg = {
        "results_dir": str(results),
        "datasets": {
            "bench": {
                "format": "vqa",
                "raw_dir": str(raw),
                "features": {"backend": "npy", "grid": grid},
            }
        },
    }
    return cfg


class NpyPerFile(Dataset):
    """The official layout: ``np.load`` of ``<image_id>.npy`` for every question."""

    def __init__(self, base, npy_dir: Path):
        self.base, self.npy_dir = base, npy_dir
        self.image_ids = [q.image_id for q in base.questions]

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        feat = np.load(self.npy_dir / f"{self.image_ids[i]}.npy")
        return {
            "img_feat": feat.astype(np.float32),
            "ques_ix": self.base.ques_ix[i],
            "target_ix": self.base.target_ix[i],
            "target_score": self.base.target_score[i],
            "qid": self.base.question_ids[i],
        }


def run_one(variant: str, root: Path, workers: int, batch_size: int) -> dict:
    # Every variant runs with the engine's process settings (glibc heap kept warm), so the
    # ratios compare the loaders alone; without it each float32 batch costs page faults.
    retain_freed_memory()
    cfg = validate_config(json.loads((root / "cfg.json").read_text()))
    ds_cfg = dataset_config(cfg, "bench")
    residency = "ram" if variant == "ram" else "disk"
    start = time.perf_counter()
    base = build_dataset(
        ds_cfg,
        ["train"],
        vocab_path=ds_cfg.paths.vocab,
        answers_path=ds_cfg.paths.answers,
        residency=residency,
    )
    setup_s = time.perf_counter() - start
    order = torch.randperm(len(base), generator=torch.Generator().manual_seed(0)).numpy()
    index_batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    n = 0
    if variant == "npy":
        loader = DataLoader(
            NpyPerFile(base, root / "npy" / "train2014"),
            batch_sampler=[b.tolist() for b in index_batches],
            num_workers=workers,
            persistent_workers=False,
        )
        start = time.perf_counter()
        for batch in loader:
            n += batch["img_feat"].shape[0]
    else:  # what the engine does for residency disk (hdf5) or ram
        source = BatchSource(base, residency, torch.device("cpu"), workers)
        start = time.perf_counter()
        for batch in source.batches(index_batches):
            n += batch["img_feat"].shape[0]
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "variant": variant,
        "workers": workers,
        "samples": n,
        "seconds": elapsed,
        "samples_per_s": n / elapsed,
        "setup_s": setup_s,
        "peak_rss_mb": peak_mb,
    }


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--questions-per-image", type=int, default=3)
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--channels", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--variants", default="npy,hdf5,ram")
    parser.add_argument("--drop-caches", action="store_true", help="also measure a cold cache")
    parser.add_argument("--workdir", help="keep the fixture here (default: a temporary folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, workers = args.child.split(":")
        row = run_one(variant, Path(args.workdir), int(workers), args.batch_size)
        print(json.dumps(row))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        t0 = time.perf_counter()
        cfg = write_fixture(root, args.images, args.questions_per_image, args.grid, args.channels)
        os.sync()  # no write-back of the fixture competing with the timed reads
        (root / "cfg.json").write_text(json.dumps(cfg))
        print(
            f"# torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} cpus; "
            f"{args.images} images × {args.questions_per_image} questions, "
            f"({args.grid**2}, {args.channels}) float16; fixture {time.perf_counter() - t0:.1f} s"
        )
        caches = ["warm"] + (["cold"] if args.drop_caches else [])
        rows = []
        for cache in caches:
            for workers in [int(w) for w in args.workers.split(",")]:
                for variant in args.variants.split(","):
                    if cache == "cold" and not drop_caches():
                        print("# cannot drop the page cache (needs root): cold runs skipped")
                        caches = ["warm"]
                        break
                    out = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--child",
                            f"{variant}:{workers}",
                            "--workdir",
                            str(root),
                            "--batch-size",
                            str(args.batch_size),
                        ],
                        capture_output=True,
                        text=True,
                    )
                    if out.returncode != 0:
                        sys.exit(f"{variant} (workers={workers}) failed:\n{out.stderr}")
                    row = json.loads(out.stdout.strip().splitlines()[-1]) | {"cache": cache}
                    rows.append(row)
                    print(
                        f"{cache:4s} workers={workers} {variant:5s} {row['samples_per_s']:9.0f} "
                        f"samples/s  setup {row['setup_s']:5.2f} s  peak RSS "
                        f"{row['peak_rss_mb']:7.0f} MB"
                    )
            for workers in {r["workers"] for r in rows if r["cache"] == cache}:
                by = {
                    r["variant"]: r for r in rows if r["cache"] == cache and r["workers"] == workers
                }
                if "npy" in by:
                    ratios = ", ".join(
                        f"{v} {by[v]['samples_per_s'] / by['npy']['samples_per_s']:.1f}×"
                        for v in by
                        if v != "npy"
                    )
                    print(f"# {cache}, workers={workers}: speed-up over per-file .npy: {ratios}")


if __name__ == "__main__":
    main()
