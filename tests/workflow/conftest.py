"""Fixtures of the workflow tests (helpers live in wf_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from wf_helpers import make_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the workflow with the tiny config, in tmp_path."""
    return make_project(tmp_path / "project")
