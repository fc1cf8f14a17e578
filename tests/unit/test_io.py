"""Atomic writes leave either the old file or the complete new one, never a partial one."""

import os

import pytest

from lsat.errors import LsatError
from lsat.io import atomic_path, read_json, write_json_atomic


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_json_round_trip(tmp_path):
    write_json_atomic(tmp_path / "a" / "x.json", {"k": [1, 2]})
    assert read_json(tmp_path / "a" / "x.json") == {"k": [1, 2]}


def test_atomic_file_gets_the_usual_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "result.json", [])
    finally:
        os.umask(old)
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == 0o644


def test_malformed_json_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"questions": [')
    with pytest.raises(LsatError, match=r"bad\.json is not valid JSON"):
        read_json(bad, "question file")


def test_non_utf8_json_names_the_file_and_offset(tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes('{"answer": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(
        LsatError, match=r"latin1\.json is not UTF-8 text \(byte 0xe9 at offset 15\)"
    ):
        read_json(p)


def test_parsed_once_parses_each_file_once_and_sees_changes(tmp_path):
    from lsat.io import parsed_once

    a = tmp_path / "a.json"
    write_json_atomic(a, {"v": 1})
    assert read_json(a) is not read_json(a)  # no cache outside a block
    with parsed_once():
        first = read_json(a)
        with parsed_once():  # nested blocks share the outer cache
            assert read_json(tmp_path / "." / "a.json") is first
        write_json_atomic(a, {"v": 22})  # new size and mtime: parsed again
        assert read_json(a) == {"v": 22}
    assert read_json(a) is not read_json(a)  # the cache is dropped with the block
