"""The question reader of each dataset format, behind one interface.

:mod:`lsat.data.vqa` and :mod:`lsat.data.clevr` read their official files; this module
is the one table from a :class:`lsat.formats.Format` to its reader, so callers ask
``reader(ds.fmt)`` instead of comparing format names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from lsat.data import clevr, vqa
from lsat.data.records import Question
from lsat.formats import CLEVR, VQA, Format


class Reader(Protocol):
    """What every format's reader module offers."""

    def load_set(self, raw_dir: str | Path, qset: str) -> list[Question]:
        """Questions of one question set, with their answers where the set has them."""
        ...

    def read_question_ids(self, path: str | Path) -> list[int]:
        """The question ids of a question file, in file order, the file checked."""
        ...

    def question_types(self, raw_dir: str | Path, qset: str) -> dict[int, str]:
        """{question id: the type its accuracy is broken down by in analyses}."""
        ...


_READERS: dict[str, Reader] = {VQA.name: vqa, CLEVR.name: clevr}


def reader(fmt: Format) -> Reader:
    """The reader of ``fmt``'s official files."""
    return _READERS[fmt.name]


def test_question_ids(fmt: Format, path: str | Path) -> list[int]:
    """The question ids of a test question file: what a result file must answer."""
    return reader(fmt).read_question_ids(path)
