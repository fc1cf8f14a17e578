"""Finding extraction inputs and the image id each file name stands for.

Official releases name files in a few ways and the feature file is keyed by image id
(VQA: the COCO id; CLEVR: ``image_index``), so every name is parsed, never guessed:
``COCO_<set>_<12 digits>`` and ``CLEVR_<set>_<6 digits>`` (with any of the known
extensions stacked, e.g. ``COCO_val2014_000000000042.jpg.npy``) or a plain integer stem
(``42.npy``). Anything else is an error that names the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from lsat.errors import LsatError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
_KNOWN_EXT = re.compile(r"(\.(?:png|jpe?g|npy|npz))+$", re.IGNORECASE)
_PATTERNS = (
    re.compile(r"^COCO_[A-Za-z0-9]+_(\d{12})$"),
    re.compile(r"^CLEVR_[A-Za-z0-9]+_(\d{6})$"),
    re.compile(r"^(\d+)$"),
)
NAME_STYLES = "COCO_<set>_<12 digits>, CLEVR_<set>_<6 digits> or a plain integer"


def parse_image_id(name: str) -> int:
    """Image id of a file name (see the module docstring); LsatError naming it otherwise."""
    stem = _KNOWN_EXT.sub("", Path(name).name)
    for pattern in _PATTERNS:
        m = pattern.match(stem)
        if m:
            return int(m.group(1))
    raise LsatError(f"cannot read an image id from the file name {name!r}: expected {NAME_STYLES}")


def list_inputs(folder: str | Path, suffixes: tuple[str, ...], what: str) -> list[tuple[int, Path]]:
    """``(image_id, path)`` of every file in ``folder`` ending in ``suffixes``, sorted by id.

    ``what`` says what belongs in the folder, for the error messages.
    """
    root = Path(folder)
    if not root.is_dir():
        raise LsatError(f"input folder not found: {root} (it should hold {what})")
    found: dict[int, Path] = {}
    for path in sorted(root.iterdir()):
        if not path.is_file() or not path.name.lower().endswith(suffixes):
            continue
        image_id = parse_image_id(path.name)
        if image_id in found:
            raise LsatError(
                f"{found[image_id]} and {path} both give image id {image_id}; keep only one"
            )
        found[image_id] = path
    if not found:
        raise LsatError(f"input folder {root} holds no {'/'.join(suffixes)} files ({what})")
    return sorted(found.items())
