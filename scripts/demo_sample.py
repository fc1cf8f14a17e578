"""Render the README's demo sample: one train image (2× enlarged) and its questions.

Usage: python scripts/demo_sample.py [--image-id 7] [--out docs/demo_sample.png]
Prints the Markdown table of the image's questions with what the ten annotators said.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from PIL import Image

from lsat.data import demo_files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-id", type=int, default=7, help="COCO id of a train image")
    p.add_argument("--out", default="docs/demo_sample.png")
    p.add_argument("--size", type=int, default=128, help="demo_world.image_size")
    a = p.parse_args()
    # The default config's world; ids count from 1 in train, so the first images are stable.
    sizes = {"train": a.image_id, "vg": 1, "val": 1, "test": 1}
    world = demo_files.build_world(0, sizes, 10)
    image = world["train"][a.image_id - 1]
    big = demo_files.render(image.scene, a.size).resize((2 * a.size,) * 2, Image.Resampling.NEAREST)
    big.save(a.out)
    # lsat demo-data draws annotators in question order, train first, from seed·10 + 9.
    rng = random.Random(9)
    table = []
    for im in world["train"]:
        for q in im.questions:
            answers = demo_files.annotator_answers(q, rng)
            if im is image:
                said = ", ".join(
                    f"{a} ×{n}" if n > 1 else a for a, n in Counter(answers).most_common()
                )
                table.append(f"| {q.question} | {q.answer} | {q.answer_type} | {said} |")
    print("| question | answer | type | the 10 annotators |\n|---|---|---|---|")
    print("\n".join(table))


if __name__ == "__main__":
    main()
