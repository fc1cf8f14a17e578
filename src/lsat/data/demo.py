"""The synthetic demo world (docs/sources.md): scenes and template questions.

Why it looks like this: the demo must be learnable by a small model from grid features of
raw pixels in minutes on a CPU. So objects sit on a 4×4 layout of slots, one object per
cell of the demo's 4×4 feature grid (32-px cells of a 128-px image): a large object nearly
fills its slot, a small one is about 60 % as wide, nothing overlaps, every object
has its own colour (so "the red object" is unambiguous) and an image holds 2–5 objects on
a plain mid-grey background. Spatial questions are asked only when their answer is
clear-cut (closest/farthest by a margin, left/right in different columns).

Each question carries its answer, VQA answer type and a CLEVR program whose last function
gives the CLEVR category. ``lsat.data.demo_files`` renders and writes both formats.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 190, 20),
    "purple": (150, 60, 190),
    "cyan": (30, 190, 210),
}
# Plain mid-grey background, as in CLEVR: the pixels backbone centres values on mid-grey,
# so background cells are close to zero and objects stand out in every colour channel.
BACKGROUND = (128, 128, 128)
SHAPES = ("circle", "square", "triangle")
SIZES = ("large", "small")
SLOTS = 4  # slots per side: one object per cell of a 4×4 feature grid
MIN_OBJECTS, MAX_OBJECTS = 2, 5
FAMILIES = ("exist", "count", "query", "relation", "compare")
# Spatial answers need this margin, in slot units, to be asked (clear-cut for the model).
_DIST_MARGIN = 0.35


@dataclass(frozen=True)
class Obj:
    color: str
    shape: str
    size: str
    x: float  # centre, in slot units (0..SLOTS)
    y: float


@dataclass
class DemoQuestion:
    family: str
    template: int  # CLEVR question_family_index
    question: str
    answer: str
    answer_type: str  # yes/no, number, other
    program: list[dict[str, Any]]


def make_scene(rng: random.Random) -> list[Obj]:
    """2–5 objects with distinct colours on distinct slots."""
    n = rng.randint(MIN_OBJECTS, MAX_OBJECTS)
    colors = rng.sample(sorted(COLORS), n)
    slots = rng.sample(range(SLOTS * SLOTS), n)
    objs = []
    for color, slot in zip(colors, slots, strict=True):
        row, col = divmod(slot, SLOTS)
        objs.append(Obj(color, rng.choice(SHAPES), rng.choice(SIZES), col + 0.5, row + 0.5))
    return objs


# -- CLEVR-style programs ------------------------------------------------------------------
class _Prog:
    """Builds a CLEVR v1.0 program (list of {function, inputs, value_inputs})."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def add(self, function: str, inputs: list[int] | None = None, *values: str) -> int:
        if inputs is None:
            inputs = [len(self.steps) - 1] if self.steps else []
        self.steps.append({"function": function, "inputs": inputs, "value_inputs": list(values)})
        return len(self.steps) - 1

    def filters(self, **attrs: str) -> int:
        i = self.add("scene", [])
        for attr, value in attrs.items():
            i = self.add(f"filter_{attr}", [i], value)
        return i

    def unique(self, color: str) -> int:
        self.filters(color=color)
        return self.add("unique")


def _plural(shape: str) -> str:
    return shape + "s"


def _count(scene: list[Obj], **attrs: str) -> int:
    return sum(all(getattr(o, k) == v for k, v in attrs.items()) for o in scene)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _dist2(a: Obj, b: Obj) -> float:
    return (a.x - b.x) ** 2 + (a.y - b.y) ** 2


# -- question templates: (scene, rng[, want_yes]) -> DemoQuestion | None ----------------------
def _exist(scene: list[Obj], rng: random.Random, want: bool) -> DemoQuestion | None:
    attr = rng.choice(("shape", "size"))
    values = SHAPES if attr == "shape" else SIZES
    combos = [(c, v) for c in sorted(COLORS) for v in values]
    ok = [(c, v) for c, v in combos if (_count(scene, color=c, **{attr: v}) > 0) == want]
    if not ok:
        return None
    color, value = rng.choice(ok)
    p = _Prog()
    p.filters(color=color, **{attr: value})
    p.add("exist")
    if attr == "shape":
        text, tpl = f"Is there a {color} {value}?", 0
    else:
        text, tpl = f"Is there a {value} {color} object?", 1
    return DemoQuestion("exist", tpl, text, _yes(want), "yes/no", p.steps)


def _count_q(scene: list[Obj], rng: random.Random) -> DemoQuestion | None:
    kind = rng.choice(("shape", "size", "all"))
    p = _Prog()
    if kind == "shape":
        shape = rng.choice(SHAPES)
        p.filters(shape=shape)
        n, text, tpl = _count(scene, shape=shape), f"How many {_plural(shape)} are there?", 2
    elif kind == "size":
        size = rng.choice(SIZES)
        p.filters(size=size)
        n, text, tpl = _count(scene, size=size), f"How many {size} objects are there?", 3
    else:
        p.filters()
        n, text, tpl = len(scene), "How many objects are there?", 4
    p.add("count")
    return DemoQuestion("count", tpl, text, str(n), "number", p.steps)


def _query(scene: list[Obj], rng: random.Random) -> DemoQuestion | None:
    kind = rng.choice(("shape", "size", "color"))
    if kind == "color":
        uniq = [o for o in scene if _count(scene, size=o.size, shape=o.shape) == 1]
        if not uniq:
            return None
        o = rng.choice(uniq)
        p = _Prog()
        p.filters(size=o.size, shape=o.shape)
        p.add("unique")
        p.add("query_color")
        return DemoQuestion(
            "query", 7, f"What color is the {o.size} {o.shape}?", o.color, "other", p.steps
        )
    o = rng.choice(scene)
    p = _Prog()
    p.unique(o.color)
    p.add(f"query_{kind}")
    tpl = 5 if kind == "shape" else 6
    text = f"What {kind} is the {o.color} object?"
    return DemoQuestion("query", tpl, text, getattr(o, kind), "other", p.steps)


def _relation(scene: list[Obj], rng: random.Random, want: bool) -> DemoQuestion | None:
    kind = rng.choice(("closest", "farthest", "left", "right"))
    if kind in ("closest", "farthest"):
        return _extreme(scene, rng, kind)
    pairs = [
        (a, b)
        for a in scene
        for b in scene
        if abs(a.x - b.x) >= 1 and ((a.x < b.x) == (kind == "left")) == want
    ]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    p = _Prog()
    p.unique(b.color)
    p.add("relate", None, kind)
    p.add("filter_color", None, a.color)
    p.add("exist")
    where = "left of" if kind == "left" else "right of"
    text = f"Is the {a.color} object {where} the {b.color} object?"
    return DemoQuestion(
        "relation", 10 if kind == "left" else 11, text, _yes(want), "yes/no", p.steps
    )


def _extreme(scene: list[Obj], rng: random.Random, kind: str) -> DemoQuestion | None:
    sign = 1 if kind == "closest" else -1
    anchors = []
    for a in scene:
        others = sorted((sign * _dist2(a, b), i) for i, b in enumerate(scene) if b is not a)
        d = [sign * v for v, _ in others]
        if len(others) == 1 or abs(d[1] ** 0.5 - d[0] ** 0.5) >= _DIST_MARGIN:
            anchors.append((a, scene[others[0][1]]))
    if not anchors:
        return None
    a, target = rng.choice(anchors)
    attr = rng.choice(("shape", "color"))
    p = _Prog()
    p.unique(a.color)
    p.add(kind)
    p.add(f"query_{attr}")
    rel = "closest to" if kind == "closest" else "farthest from"
    text = f"What {attr} is the object {rel} the {a.color} object?"
    tpl = {"closest": 8, "farthest": 9}[kind]
    return DemoQuestion("relation", tpl, text, getattr(target, attr), "other", p.steps)


def _compare(scene: list[Obj], rng: random.Random, want: bool) -> DemoQuestion | None:
    kind = rng.choice(("more", "fewer", "same_shape", "same_size"))
    p = _Prog()
    if kind in ("more", "fewer"):
        pairs = [(s, t) for s in SHAPES for t in SHAPES if s != t]
        cmp = (lambda m, n: m > n) if kind == "more" else (lambda m, n: m < n)
        ok = [
            (s, t) for s, t in pairs if cmp(_count(scene, shape=s), _count(scene, shape=t)) == want
        ]
        if not ok:
            return None
        s, t = rng.choice(ok)
        i = p.filters(shape=s)
        i = p.add("count", [i])
        j = p.filters(shape=t)
        j = p.add("count", [j])
        p.add("greater_than" if kind == "more" else "less_than", [i, j])
        text = f"Are there {kind} {_plural(s)} than {_plural(t)}?"
        return DemoQuestion(
            "compare", 12 if kind == "more" else 13, text, _yes(want), "yes/no", p.steps
        )
    attr = kind.split("_")[1]
    objects = [
        (a, b)
        for a in scene
        for b in scene
        if a is not b and (getattr(a, attr) == getattr(b, attr)) == want
    ]
    if not objects:
        return None
    a, b = rng.choice(objects)
    i = p.unique(a.color)
    i = p.add(f"query_{attr}", [i])
    j = p.unique(b.color)
    j = p.add(f"query_{attr}", [j])
    p.add(f"equal_{attr}", [i, j])
    text = f"Are the {a.color} object and the {b.color} object the same {attr}?"
    return DemoQuestion(
        "compare", 14 if attr == "shape" else 15, text, _yes(want), "yes/no", p.steps
    )


_Template = Callable[[list[Obj], random.Random, bool], DemoQuestion | None]


def _open(template: Callable[[list[Obj], random.Random], DemoQuestion | None]) -> _Template:
    """An open-answer template in the table's form: it has no yes/no answer to aim for."""
    return lambda scene, rng, _want: template(scene, rng)


_TEMPLATES: dict[str, _Template] = {
    "exist": _exist,
    "count": _open(_count_q),
    "query": _open(_query),
    "relation": _relation,
    "compare": _compare,
}


def make_questions(scene: list[Obj], rng: random.Random, n: int) -> list[DemoQuestion]:
    """``n`` distinct questions, the families in turn, yes/no answers drawn 50/50.

    A family that has no (new) question for this scene hands its turn to the next one.
    """
    out: list[DemoQuestion] = []
    seen: set[str] = set()
    start = rng.randrange(len(FAMILIES))
    for k in range(n):
        for shift in range(len(FAMILIES)):
            family = FAMILIES[(start + k + shift) % len(FAMILIES)]
            q = _draw(family, scene, rng, seen)
            if q is not None:
                seen.add(q.question)
                out.append(q)
                break
    return out


def _draw(family: str, scene: list[Obj], rng: random.Random, seen: set[str]) -> DemoQuestion | None:
    template = _TEMPLATES[family]
    for _ in range(20):
        want = rng.random() < 0.5
        q = template(scene, rng, want) or template(scene, rng, not want)
        if q is not None and q.question not in seen:
            return q
    return None
