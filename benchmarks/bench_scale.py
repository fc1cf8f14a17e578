"""The bookkeeping and data path at VQA-v2 size: vocab, join, result files, banks.

Writes seeded files in the official VQA-v2 formats and sizes (train2014: 443,757 questions
of 82,783 images, val2014: 214,354 of 40,504, test2015: 447,793 of 81,434; annotations with
10 answers each), then times, each step in its own subprocess so its peak RSS is its own:

- ``vocab``: ``lsat vocab`` (train, val, test question files; train+val annotations);
- ``join``: the training join, ``build_dataset(train)`` with ``residency: disk`` (questions,
  annotations, tokens, soft targets, the image row of every question);
- ``result_write``: ``write_result`` of a 447,793-entry test result (checked, atomic);
- ``validate``: ``validate_result_file`` of that file against the test questions, and
  then ``lsat validate-result`` as a command (``validate (cmd)``: a fresh interpreter, its
  start-up and imports included);
- ``bank_ram``: the ``ram`` bank of a separate feature file with paper-sized rows
  (64 × 2048 float16 = 256 KB per image; ``--bank-images``, default 4,000 = 1.0 GB) and its
  peak RSS over the RSS before loading, as a multiple of the bank;
- ``disk_epoch``: a pass of ``residency: disk`` batches (64) over that bank's questions,
  warm page cache, through the read-ahead thread: float16 batches as a GPU's copy takes
  them, then the float32 batches of ``BatchSource`` on the CPU; samples/s wall and per
  CPU second of the process;
- ``disk_cold``: the first 40 of those batches with the bank file evicted from the page
  cache (``posix_fadvise``: this file only, no root, the other processes' cache untouched),
  against the storage's own rates for a sequential read and for the same chunks.

Feature files of the join are one float16 value per image (the join does not read them);
the bank file is scaled down from VQA-v2's 21.7 GB to what a 24 GB machine holds beside
the rest. ``gpu`` residency is measured only with a GPU. ``lsat evaluate`` at val size is
``bench_evaluate.py``'s row (it needs the official loop beside it).

    python benchmarks/bench_scale.py [--dir SCRATCH] [--steps vocab,join,...]
        [--bank-images 4000]

Files already in ``--dir`` are reused (generating them takes a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

SIZES = {  # question set: (questions, images, image-id file prefix)
    "train": (443_757, 82_783),
    "val": (214_354, 40_504),
    "test": (447_793, 81_434),
}
STEPS = ("vocab", "join", "result_write", "validate", "bank_ram", "disk_epoch", "disk_cold")
KINDS = (("yes/no", "is the"), ("number", "how many"), ("other", "what color"))


def _words(rng: random.Random) -> list[str]:
    syll = ["ba", "ko", "ri", "te", "mu", "sa", "lo", "ne", "di", "fu", "ga", "pe"]
    return sorted(
        {"".join(rng.choice(syll) for _ in range(rng.randint(1, 3))) for _ in range(9000)}
    )


def _write_set(raw: Path, qset: str, rng: random.Random, words: list[str], answers: list[str]):
    from lsat.paths import annotation_file, question_file

    n_q, n_img = SIZES[qset]
    image_ids = sorted(rng.sample(range(1, 600_000), n_img))
    subtype = {"train": "train2014", "val": "val2014", "test": "test2015"}[qset]
    qs, anns = [], []
    for k in range(n_q):
        image_id = image_ids[k % n_img]
        qid = image_id * 1000 + k // n_img
        kind, prefix = KINDS[k % 3]
        text = f"{prefix} {' '.join(rng.choices(words, k=rng.randint(2, 9)))}?"
        qs.append(f'{{"image_id": {image_id}, "question": "{text}", "question_id": {qid}}}')
        if qset != "test":
            main = answers[min(int(rng.paretovariate(1.2)) - 1, len(answers) - 1)]
            given = [main if rng.random() < 0.8 else rng.choice(answers) for _ in range(10)]
            items = ", ".join(
                f'{{"answer": "{a}", "answer_confidence": "yes", "answer_id": {j + 1}}}'
                for j, a in enumerate(given)
            )
            anns.append(
                f'{{"question_type": "{prefix}", "multiple_choice_answer": "{main}", '
                f'"answers": [{items}], "image_id": {image_id}, "answer_type": "{kind}", '
                f'"question_id": {qid}}}'
            )
    head = '"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", '
    head += f'"data_subtype": "{subtype}"'
    question_file(raw, "vqa", qset).write_text(
        f'{{{head}, "license": {{}}, "questions": [{", ".join(qs)}]}}'
    )
    if qset != "test":
        annotation_file(raw, "vqa", qset).write_text(
            f'{{{head}, "license": {{}}, "annotations": [{", ".join(anns)}]}}'
        )
    return image_ids


def _features(path: Path, image_ids: list[int], cells: int, channels: int) -> None:
    from lsat.features.store import FeatureWriter

    if path.is_file():
        return
    writer = FeatureWriter(path, image_ids, grid=int(cells**0.5), channels=channels,
                           backbone="bench", source="bench_scale")  # fmt: skip
    rng = np.random.default_rng(0)
    step = 512
    for start in range(0, len(image_ids), step):
        rows = range(start, min(start + step, len(image_ids)))
        writer.write(rows, rng.standard_normal((len(rows), cells, channels)).astype(np.float16))
    writer.finish()


def prepare(root: Path, bank_images: int) -> Path:
    """The raw files, feature files and config under ``root`` (reused when present)."""
    raw, bank_raw = root / "raw", root / "bank_raw"
    cfg_path = root / "config.yaml"
    rng = random.Random(0)
    words = _words(rng)
    answers = ["yes", "no", *map(str, range(30))] + [
        f"{a} {b}" for a in words[:60] for b in words[60:120]
    ]
    ids = {}
    raw.mkdir(parents=True, exist_ok=True)
    marker = raw / ".complete"
    if not marker.is_file():
        for qset in SIZES:
            t = time.perf_counter()
            ids[qset] = _write_set(raw, qset, rng, words, answers)
            print(
                f"# wrote {qset}: {SIZES[qset][0]:,} questions in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
        (raw / "ids.json").write_text(json.dumps(ids))
        marker.write_text("")
    ids = json.loads((raw / "ids.json").read_text())
    results = root / "results"
    feats = results / "scale" / "features"
    for qset, image_set in (("train", "train2014"), ("val", "val2014"), ("test", "test2015")):
        _features(feats / f"{image_set}.h5", ids[qset], 1, 1)
    if not (bank_raw / ".complete").is_file():
        bank_raw.mkdir(parents=True, exist_ok=True)
        saved = dict(SIZES)
        SIZES.update(train=(bank_images * 5, bank_images), val=(50, 10), test=(50, 10))
        brng = random.Random(1)
        written = {q: _write_set(bank_raw, q, brng, words, answers) for q in SIZES}
        bank_ids = written["train"]
        SIZES.update(saved)
        (bank_raw / "ids.json").write_text(json.dumps(bank_ids))
        (bank_raw / ".complete").write_text("")
    bank_ids = json.loads((bank_raw / "ids.json").read_text())
    _features(results / "bank" / "features" / "train2014.h5", bank_ids, 64, 2048)
    base = {"model": {"name": "trar"}, "train": {"splits": ["train"]}, "vocab": {"glove": None}}
    cfg = {
        "results_dir": str(results),
        "datasets": {
            "scale": {**base, "format": "vqa", "raw_dir": str(raw),
                      "features": {"backend": "npy", "grid": 1},
                      "model": {"name": "trar", "options": {"img_feat_size": 1}}},
            "bank": {**base, "format": "vqa", "raw_dir": str(bank_raw),
                     "features": {"backend": "npy", "grid": 8}},
        },
    }  # fmt: skip
    cfg_path.write_text(yaml.safe_dump(cfg))
    bank_vocab = results / "bank" / "vocab" / "vocab.json"
    if not bank_vocab.is_file():  # the bank's small vocabulary (its questions are few)
        from lsat.cli import main as lsat_main

        assert lsat_main(["vocab", "--config", str(cfg_path), "--dataset", "bank"]) == 0
    return cfg_path


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


_HWM = (
    "import sys\nfrom pathlib import Path\nfrom lsat.cli import main\ntry:\n"
    "    rc = main(sys.argv[1:])\nfinally:\n"
    "    hwm = [x for x in Path('/proc/self/status').read_text().splitlines() if 'VmHWM' in x]\n"
    "    print('#', *hwm, file=sys.stderr)\nsys.exit(rc)"
)


def _time_command(args: list[str]) -> dict:
    """Wall and CPU seconds and peak RSS of ``lsat ARGS`` as a user runs it: a fresh
    interpreter, its imports included (the peak is VmHWM, which exec resets, not
    ru_maxrss, which keeps the forking parent's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _HWM, *args], check=True,
                          capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    hwm = proc.stderr.strip().splitlines()[-1].split()
    return {"seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": int(hwm[-2]) / 1024}


def _rate(fn) -> tuple[int, float, float]:
    """(samples, wall s, CPU s of this process) of ``fn()``, which returns its samples."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, t = usage.ru_utime + usage.ru_stime, time.perf_counter()
    n = fn()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return n, time.perf_counter() - t, usage.ru_utime + usage.ru_stime - cpu0


def _disk_epoch(ds) -> dict:
    """One pass of ``residency: disk`` batches, warm cache, twice: the float16 batches a GPU's
    copy takes (the read-ahead thread's output: what the host does for a GPU, less the
    pinning, which needs CUDA) and the float32 batches of a CPU device (the conversion,
    which a GPU does on the device, included). glibc keeps freed memory as the engine's
    CPU setting does (``retain_freed_memory``)."""
    import functools

    import torch

    from lsat.data.dataset import build_dataset
    from lsat.engine.batches import PREFETCH_BATCHES, BatchSource, _read_ahead, train_steps
    from lsat.engine.cpu import retain_freed_memory
    from lsat.engine.prefetch import prefetched

    retain_freed_memory()
    data = build_dataset(ds, ["train"], vocab_path=ds.paths.vocab, answers_path=ds.paths.answers)
    with open(ds.paths.features("train2014"), "rb") as f:  # warm the page cache
        while f.read(64 * 2**20):
            pass
    steps = train_steps(len(data), batch_size=64, world=1, rank=0, seed=0, epoch=0)
    read = functools.partial(_read_ahead, data, False)
    feed = lambda: sum(len(b["img_feat"]) for b in prefetched(read, steps, PREFETCH_BATCHES))  # noqa: E731
    n16, wall16, cpu16 = _rate(feed)
    source = BatchSource(data, "disk", torch.device("cpu"))
    n, wall, cpu = _rate(lambda: sum(b["img_feat"].shape[0] for b in source.batches(steps)))
    return {
        "seconds": wall16 + wall,
        "cpu_seconds": cpu16 + cpu,
        "detail": (
            f"{n:,} samples twice, warm cache: float16 feed {n16 / wall16:,.0f} samples/s "
            f"({n16 / cpu16:,.0f} per CPU second); float32 on the CPU {n / wall:,.0f} "
            f"samples/s ({n / cpu:,.0f} per CPU second)"
        ),
    }


def _uncached(path: Path) -> None:
    """Evict ``path``'s pages from the page cache (only this file's, no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _preads(path: Path, chunks: list, threads: int) -> float:
    """Seconds to pread ``chunks`` (offset, size) of ``path`` with ``threads`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    fd = os.open(path, os.O_RDONLY)
    try:

        def job(i: int) -> None:
            buf = bytearray(chunks[0][1])
            for offset, _size in chunks[i::threads]:
                os.preadv(fd, [buf], offset)

        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(job, range(threads)))
        return time.perf_counter() - t
    finally:
        os.close(fd)


def _disk_cold(ds, batches: int = 40) -> dict:
    """``disk`` residency from storage: the bank file evicted from the page cache before
    each pass (posix_fadvise), the first ``batches`` batches (nearly all distinct images),
    against the storage itself: one sequential read of the file (as ``dd bs=4M``) and raw
    preads of the same chunks in the same order, 1 and 8 at a time."""
    import functools

    from lsat.data.dataset import build_dataset
    from lsat.engine.batches import PREFETCH_BATCHES, _read_ahead, train_steps
    from lsat.engine.prefetch import prefetched

    data = build_dataset(ds, ["train"], vocab_path=ds.paths.vocab, answers_path=ds.paths.answers)
    path = ds.paths.features("train2014")
    steps = train_steps(len(data), batch_size=64, world=1, rank=0, seed=0, epoch=0)[:batches]
    store = data._bank_index[0][0]
    dset, chunks = store._dataset(), []
    for s in steps:
        rows = sorted(store.row(data._bank_index[r][1]) for r in np.unique(data.image_row[s]))
        info = [dset.id.get_chunk_info_by_coord((r, 0, 0)) for r in rows]
        chunks += [(c.byte_offset, c.size) for c in info]
    mb = sum(size for _, size in chunks) / 2**20
    _uncached(path)
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(4 * 2**20):
            pass
    seq = path.stat().st_size / 2**20 / (time.perf_counter() - t)
    rates = {}
    for threads in (1, 8):
        _uncached(path)
        rates[threads] = mb / _preads(path, chunks, threads)
    _uncached(path)
    read = functools.partial(_read_ahead, data, False)
    feed = lambda: sum(len(b["img_feat"]) for b in prefetched(read, steps, PREFETCH_BATCHES))  # noqa: E731
    n, wall, cpu = _rate(feed)
    ours = mb / wall
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "detail": (
            f"{n:,} samples ({len(chunks):,} chunks, {mb:,.0f} MB) uncached: float16 feed "
            f"{n / wall:,.0f} samples/s = {ours:,.0f} MB/s ({n / cpu:,.0f} per CPU second); "
            f"storage: sequential {seq:,.0f} MB/s, same chunks 1 at a time {rates[1]:,.0f} "
            f"MB/s, 8 at a time {rates[8]:,.0f} MB/s; feed / 8 at a time = {ours / rates[8]:.2f}"
        ),
    }


def child(step: str, cfg_path: Path) -> dict:
    """Run one step in this (fresh) process; return its figures."""
    from lsat.cli import main
    from lsat.config import dataset_config, load_config
    from lsat.data.dataset import build_dataset

    cfg = load_config(cfg_path)
    ds = dataset_config(cfg, "bank" if step.startswith(("bank", "disk")) else "scale")
    root = cfg_path.parent
    before = _rss_mb()
    out: dict = {}
    t = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    if step == "vocab":
        assert main(["vocab", "--config", str(cfg_path), "--dataset", ds.name]) == 0
        out["detail"] = "train+val+test questions, train+val annotations"
    elif step == "join":
        data = build_dataset(
            ds, ["train"], vocab_path=ds.paths.vocab, answers_path=ds.paths.answers
        )
        out["detail"] = f"{len(data):,} questions"
    elif step in ("result_write", "validate"):
        from lsat.data.vqa import read_questions
        from lsat.engine.results import validate_result_file, write_result
        from lsat.paths import question_file

        qfile = question_file(ds.raw_dir, "vqa", "test")
        result = root / "result_test.json"
        if step == "result_write":
            ids = [q.qid for q in read_questions(qfile)]
            entries = [{"question_id": q, "answer": "yes"} for q in ids]
            t = time.perf_counter()  # the check and the write, not the test file's parse
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu0 = usage.ru_utime + usage.ru_stime
            write_result(result, entries, ids)
            out["detail"] = f"{len(entries):,} entries, checked + atomic write"
        else:
            n, _coverage = validate_result_file(result, qfile)
            out["detail"] = f"{n:,} entries, both files read"
            # This row's times end here: the command below is its own row.
            out["seconds"] = time.perf_counter() - t
            usage = resource.getrusage(resource.RUSAGE_SELF)
            out["cpu_seconds"] = usage.ru_utime + usage.ru_stime - cpu0
            out["command"] = _time_command(["validate-result", "--result", str(result),
                                            "--questions", str(qfile)])  # fmt: skip
    elif step == "bank_ram":
        data = build_dataset(ds, ["train"], vocab_path=ds.paths.vocab,
                             answers_path=ds.paths.answers, residency="ram")  # fmt: skip
        bank_mb = data.bank_bytes / 2**20
        out["bank_mb"] = bank_mb
        out["detail"] = f"bank {bank_mb:,.0f} MB"
    elif step == "disk_epoch":
        out.update(_disk_epoch(ds))  # its own seconds: the two timed passes
    elif step == "disk_cold":
        out.update(_disk_cold(ds))
    out.setdefault("seconds", time.perf_counter() - t)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.setdefault("cpu_seconds", usage.ru_utime + usage.ru_stime - cpu0)
    out["rss_before_mb"] = before
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "bank_mb" in out:
        out["peak_over_bank"] = (out["peak_rss_mb"] - before) / out["bank_mb"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir",
        default=str(Path(tempfile.gettempdir()) / "lsat-bench-scale"),
        help="scratch folder for the files (default: TMPDIR/lsat-bench-scale)",
    )
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--bank-images", type=int, default=4000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.dir) / "bench_scale"
    if args.child:
        print(json.dumps(child(args.child, root / "config.yaml")))
        return
    t = time.perf_counter()
    prepare(root, args.bank_images)
    print(
        f"# files ready in {time.perf_counter() - t:.0f} s under {root}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'step':<14}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}  detail")
    for step in args.steps.split(","):
        proc = subprocess.run([sys.executable, __file__, "--dir", args.dir, "--child", step],
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode:
            print(f"{step:<14} failed: {proc.stderr[-800:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        extra = (
            f", peak − start = {r['peak_over_bank']:.2f}× the bank" if "peak_over_bank" in r else ""
        )
        print(
            f"{step:<14}{r['seconds']:>9.2f}{r['cpu_seconds']:>9.2f}"
            f"{r['peak_rss_mb']:>13,.0f}  {r['detail']}{extra}",
            flush=True,
        )
        if "command" in r:  # the same work as `lsat ...` in a fresh interpreter
            c = r["command"]
            print(f"{step + ' (cmd)':<14}{c['seconds']:>9.2f}{c['cpu_seconds']:>9.2f}"
                  f"{c['peak_rss_mb']:>13,.0f}  the whole command, start-up and imports included",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
