"""Provenance: the code's commit (null with a reason outside git), hashes, the CLI; and
progress bars only at a terminal."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from lsat import progress, provenance
from lsat.cli import main
from lsat.features.store import FeatureStore, FeatureWriter

CODE = Path(provenance.__file__).resolve().parent


def test_commit_is_the_code_repositorys_head(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the working directory is not the code's repository
    head = subprocess.run(
        ["git", "-C", str(CODE), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    code = provenance.collect()["code"]
    assert code["commit"] == head and isinstance(code["dirty"], bool)


def test_outside_git_commit_is_null_with_a_reason(tmp_path):
    code = provenance.code_version(tmp_path)
    assert code["commit"] is None and code["dirty"] is None
    assert "not in a git repository" in code["reason"]


def test_file_hashes_and_slurm(tmp_path, monkeypatch):
    f = tmp_path / "q.json"
    f.write_text("{}")
    hashes = provenance.file_hashes([f, tmp_path / "missing.json", None])
    assert hashes == {
        str(f): "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        str(tmp_path / "missing.json"): None,
    }
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "node[1-2]")
    assert provenance.slurm() == {"job_id": "4242", "job_nodelist": "node[1-2]"}
    assert provenance.config_hash({"b": 1, "a": 2}) == provenance.config_hash({"a": 2, "b": 1})


def _features(path: Path, values: np.ndarray) -> Path:
    w = FeatureWriter(path, [3, 5], grid=1, channels=2, backbone="test", source="here")
    w.write([0, 1], values)
    return w.finish()


def test_feature_hash_recorded_once_at_extraction(tmp_path):
    vals = np.arange(4, dtype=np.float16).reshape(2, 1, 2)
    a = _features(tmp_path / "a.h5", vals)
    b = _features(tmp_path / "b.h5", vals)
    c = _features(tmp_path / "c.h5", vals + 1)
    with FeatureStore(a) as store:
        recorded = store.content_sha256
    assert recorded == provenance.feature_hashes([b])[str(b)]  # same numbers, same hash
    assert recorded != provenance.feature_hashes([c])[str(c)]
    with h5py.File(a, "r+") as f:  # read back, not recomputed: a changed attribute shows
        f.attrs["content_sha256"] = "recorded-at-extraction"
    assert provenance.feature_hashes([a]) == {str(a): "recorded-at-extraction"}


def test_provenance_command(tmp_path, capsys):
    prov = provenance.finish(provenance.collect(config={"x": 1}))
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"overall": 1.0, "provenance": prov}))
    result = tmp_path / "result_test.json"
    result.write_text("[]")
    provenance.sidecar_path(result).write_text(json.dumps(prov))
    assert main(["provenance", str(metrics), str(result)]) == 0
    out = capsys.readouterr().out
    assert f"== {result}" in out and out.count("commit:") == 2 and "torch:" in out
    assert main(["provenance", "--json", str(metrics)]) == 0
    assert json.loads(capsys.readouterr().out)["config_sha256"] == prov["config_sha256"]
    bare = tmp_path / "old.json"
    bare.write_text("{}")
    assert main(["provenance", str(bare)]) == 2
    assert "has no provenance" in capsys.readouterr().err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("tty", "total", "shown"), [(False, 500, False), (True, 500, True)])
def test_bars_only_at_a_terminal(monkeypatch, tty, total, shown):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    err = _Tty() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress.bar(total=total, file=err, mininterval=0) as bar:
        bar.update(total)
    assert bool(err.getvalue()) == shown
    assert not progress.wanted(progress.MIN_STEPS - 1) or not tty  # short loops: no bar
