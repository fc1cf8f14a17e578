"""Render the demo world to PNG and write it in the official VQA-v2 and CLEVR v1.0 layouts.

Layout (``out_dir``): ``vqa/`` holds the official VQA-v2 file names (train2014, val2014,
test2015 without annotations, and ``VG_*.json``) with images ``images/{set}/COCO_{set}_
%012d.png``; ``clevr/`` holds ``questions/CLEVR_{split}_questions.json`` and
``images/{split}/CLEVR_{split}_%06d.png`` for the same train/val/test scenes. VG questions
have images of their own, stored with the train images in ``images/train2014`` (ids not
used by train questions), as in VQA-v2 + Visual Genome where VG pairs use COCO images.
COCO ids are assigned in the order train, vg, val, test, starting at 1; a VQA question id is
``image_id * 1000 + k``.

Same seed ⇒ byte-identical files: one seeded generator, PNGs without metadata (no
timestamps), JSON with a fixed key order. Each split has its own generator derived from the
seed, so changing one split's size does not change the scenes of the others.
"""

from __future__ import annotations

import functools
import io
import os
import random
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from lsat import progress
from lsat.data.demo import (
    BACKGROUND,
    COLORS,
    SHAPES,
    SIZES,
    SLOTS,
    DemoQuestion,
    Obj,
    make_questions,
    make_scene,
)
from lsat.errors import LsatError
from lsat.io import write_json_atomic
from lsat.paths import annotation_file, image_dir, question_file

SPLITS = ("train", "vg", "val", "test")  # the order of COCO id assignment
VQA_IMAGE_SET = {"train": "train2014", "vg": "train2014", "val": "val2014", "test": "test2015"}
MARKER = "DEMO_WORLD.json"
SUPERSAMPLE = 4  # draw larger and box-filter down: smooth, deterministic edges
_SPLIT_SALT = {"train": 1, "vg": 2, "val": 3, "test": 4}
RENDER_THREADS = min(4, os.cpu_count() or 1)


@dataclass
class DemoImage:
    split: str
    index: int  # CLEVR image_index within the split
    image_id: int  # COCO id
    scene: list[Obj]
    questions: list[DemoQuestion]


def render(scene: list[Obj], size: int) -> Image.Image:
    """RGB image of a scene on the plain background."""
    big = size * SUPERSAMPLE
    slot = big / SLOTS
    img = Image.fromarray(background(big))
    draw = ImageDraw.Draw(img)
    for o in scene:
        r = slot * (0.46 if o.size == "large" else 0.3)
        cx, cy = o.x * slot, o.y * slot
        fill = COLORS[o.color]
        if o.shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        elif o.shape == "square":
            h = r * 0.88
            draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=fill)
        else:
            draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=fill)
    return img.resize((size, size), Image.Resampling.BOX)


@functools.lru_cache(maxsize=4)
def background(size: int) -> np.ndarray:
    """(size, size, 3) uint8 plain background (read-only, cached)."""
    out = np.empty((size, size, 3), np.uint8)
    out[...] = BACKGROUND
    out.flags.writeable = False
    return out


def annotator_answers(q: DemoQuestion, rng: random.Random) -> list[str]:
    """Ten answers: the right one by at least 7 annotators, the rest near misses.

    Some right answers are spelled differently ("Yes", "two", "a circle"): the official
    normalisation maps them back, so they count for the right answer. Wrong answers given
    by 1–3 annotators produce the soft scores 0.3/0.6/0.9. Most questions have 8–10 right
    annotators: with 4–6 (tried first) a wrong answer often scored 0.9 against the right
    one's 1.0, and the soft-score targets then taught the demo models almost nothing.
    """
    wrong = rng.sample(_near_misses(q), min(len(_near_misses(q)), 2))
    # Each wrong answer gets at most 3 annotators, so the right one is always the plurality.
    n_right = max(rng.choice((10, 10, 10, 10, 9, 9, 9, 8, 8, 7)), 10 - 3 * len(wrong))
    answers = [_variant(q.answer, rng) for _ in range(n_right)]
    counts = dict.fromkeys(wrong, 0)
    for _ in range(10 - n_right):
        pick = rng.choice([w for w in wrong if counts[w] < 3])
        counts[pick] += 1
        answers.append(pick)
    rng.shuffle(answers)
    return answers


def _near_misses(q: DemoQuestion) -> list[str]:
    a = q.answer
    if q.answer_type == "yes/no":
        return ["no" if a == "yes" else "yes"]
    if q.answer_type == "number":
        return [str(int(a) + 1)] + ([str(int(a) - 1)] if a != "0" else [])
    for values in (SHAPES, SIZES, tuple(sorted(COLORS))):
        if a in values:
            return [v for v in values if v != a]
    raise AssertionError(f"unexpected demo answer {a!r}")


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five")


def _variant(answer: str, rng: random.Random) -> str:
    if rng.random() >= 0.15:
        return answer
    if answer.isdigit():
        return _NUMBER_WORDS[int(answer)]
    if answer in ("yes", "no"):
        return answer.capitalize()
    return rng.choice(("a ", "the ")) + answer


def build_world(
    seed: int, images: dict[str, int], questions_per_image: int
) -> dict[str, list[DemoImage]]:
    """Scenes and questions of every split (no files written)."""
    if questions_per_image >= 1000:
        raise LsatError("demo_world.questions_per_image must be below 1000 (question ids)")
    world: dict[str, list[DemoImage]] = {}
    next_id = 1
    for split in SPLITS:
        rng = random.Random(seed * 10 + _SPLIT_SALT[split])
        items = []
        for index in range(images[split]):
            scene = make_scene(rng)
            qs = make_questions(scene, rng, questions_per_image)
            items.append(DemoImage(split, index, next_id, scene, qs))
            next_id += 1
        world[split] = items
    return world


def write_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    images: dict[str, int] | None = None,
    questions_per_image: int = 10,
    image_size: int = 128,
) -> dict[str, int]:
    """Generate the demo world into ``out_dir``/vqa and ``out_dir``/clevr; return counts.

    An existing ``vqa``/``clevr`` folder is replaced only if an earlier run wrote it
    (it holds ``DEMO_WORLD.json``), so a mistyped ``--out`` cannot delete real data.
    """
    sizes = {"train": 600, "val": 200, "test": 200, "vg": 200, **(images or {})}
    for split, n in sizes.items():
        if split not in SPLITS or not isinstance(n, int) or n < 1:
            raise LsatError(f"demo_world.images.{split} must be a positive integer, got {n!r}")
    if image_size < 32:
        raise LsatError(f"demo_world.image_size must be at least 32, got {image_size}")
    out = Path(out_dir)
    params = {
        "seed": seed,
        "images": {s: sizes[s] for s in SPLITS},
        "questions_per_image": questions_per_image,
        "image_size": image_size,
    }
    world = build_world(seed, sizes, questions_per_image)
    vqa_dir, clevr_dir = _fresh(out / "vqa", params), _fresh(out / "clevr", params)
    rng = random.Random(seed * 10 + 9)  # annotators
    for split in SPLITS:
        _write_split(world[split], vqa_dir, clevr_dir, image_size, rng)
    return {s: sum(len(im.questions) for im in world[s]) for s in SPLITS}


def _fresh(folder: Path, params: dict[str, Any]) -> Path:
    """Empty ``folder`` (only if lsat demo-data made it) and mark it as ours first thing."""
    if folder.exists():
        # Folders holding no file at all (as Snakemake pre-creates them) count as empty.
        if not (folder / MARKER).is_file() and any(p.is_file() for p in folder.rglob("*")):
            raise LsatError(
                f"{folder} exists and was not written by lsat demo-data (no {MARKER}); "
                "choose another --out or remove it yourself"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_json_atomic(folder / MARKER, params)
    return folder


def _write_split(
    items: list[DemoImage], vqa_dir: Path, clevr_dir: Path, size: int, rng: random.Random
) -> None:
    split = items[0].split if items else ""
    vqa_set = VQA_IMAGE_SET[split]
    vqa_imgs = image_dir(vqa_dir, "vqa", vqa_set)
    clevr_imgs = None if split == "vg" else image_dir(clevr_dir, "clevr", split)
    for d in (vqa_imgs, clevr_imgs):
        if d is not None:
            d.mkdir(parents=True, exist_ok=True)
    bar = progress.bar(items, desc=f"demo {split} images", unit=" img", leave=False)
    for im, png in zip(bar, _rendered_pngs(items, size), strict=True):
        (vqa_imgs / f"COCO_{vqa_set}_{im.image_id:012d}.png").write_bytes(png)
        if clevr_imgs is not None:
            (clevr_imgs / f"CLEVR_{split}_{im.index:06d}.png").write_bytes(png)
    _write_vqa_json(items, split, vqa_set, vqa_dir, rng)
    if split != "vg":
        _write_clevr_json(items, split, clevr_dir)


def _rendered_pngs(items: list[DemoImage], size: int) -> Iterator[bytes]:
    """Each item's PNG, in order, rendered on up to ``RENDER_THREADS`` threads.

    Pillow releases the GIL while it resamples and compresses, the two costs of an image, so
    threads divide them across cores; the bytes do not depend on the thread that made them.
    """
    with ThreadPoolExecutor(max_workers=RENDER_THREADS) as pool:
        yield from pool.map(lambda im: _png_bytes(render(im.scene, size)), items)


def _png_bytes(img: Image.Image) -> bytes:
    """PNG without any metadata chunk (no timestamps), so reruns are byte-identical."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


_INFO = {
    "description": "LSAT-VQA synthetic demo world (not real VQA-v2 data)",
    "version": "1.0",
    "year": 2026,
}


def _write_vqa_json(
    items: list[DemoImage], split: str, vqa_set: str, vqa_dir: Path, rng: random.Random
) -> None:
    head = {"info": _INFO, "license": {"name": "CC0"}, "data_type": "mscoco",
            "data_subtype": vqa_set}  # fmt: skip
    questions, annotations = [], []
    for im in items:
        for k, q in enumerate(im.questions):
            qid = im.image_id * 1000 + k
            questions.append({"image_id": im.image_id, "question": q.question, "question_id": qid})
            answers = annotator_answers(q, rng)
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": im.image_id,
                    "question_type": " ".join(q.question.lower().split()[:2]),
                    "answer_type": q.answer_type,
                    "multiple_choice_answer": q.answer,
                    "answers": [
                        {"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                        for j, a in enumerate(answers)
                    ],
                }
            )
    qfile = question_file(vqa_dir, "vqa", split)
    write_json_atomic(qfile, {**head, "task_type": "Open-Ended", "questions": questions}, None)
    afile = annotation_file(vqa_dir, "vqa", split)
    if afile is not None:
        write_json_atomic(afile, {**head, "annotations": annotations}, None)


def _write_clevr_json(items: list[DemoImage], split: str, clevr_dir: Path) -> None:
    questions: list[dict[str, Any]] = []
    for im in items:
        for q in im.questions:
            item: dict[str, Any] = {
                "image_index": im.index,
                "image_filename": f"CLEVR_{split}_{im.index:06d}.png",
                "question": q.question,
                "question_index": len(questions),
                "question_family_index": q.template,
                "split": split,
            }
            if split != "test":  # like CLEVR v1.0: no answers or programs for test
                item["answer"] = q.answer
                item["program"] = q.program
            questions.append(item)
    info = {"split": split, "version": "1.0", "date": "2026-01-01", "license": "CC0",
            "description": _INFO["description"]}  # fmt: skip
    write_json_atomic(
        question_file(clevr_dir, "clevr", split), {"info": info, "questions": questions}, None
    )
