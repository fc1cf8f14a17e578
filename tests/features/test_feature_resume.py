"""A SIGKILLed extraction leaves only a .partial file, and the rerun finishes it identically."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from lsat.cli import main
from lsat.features.store import FeatureStore, partial_path

# Runs `lsat extract` and SIGKILLs itself at the Nth HDF5 flush. Each batch flushes twice
# (features, then done flags), so an odd N dies with a batch's features half on disk and
# unmarked, an even N with its done flags possibly unflushed.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import h5py
    from lsat.cli import main

    kill_at = int(sys.argv[1])
    calls = 0
    flush = h5py.File.flush

    def dying_flush(self):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        flush(self)

    h5py.File.flush = dying_flush
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.parametrize("kill_at", [5, 6])
def test_resume_after_sigkill_equals_uninterrupted(coco_images, tmp_path, kill_at, capsys):
    args = ["--backend", "pixels", "--input", str(coco_images), "--grid", "4"]
    args += ["--cell-pixels", "2", "--batch-size", "2"]
    ref = tmp_path / "ref.h5"
    assert main(["extract", *args, "--out", str(ref)]) == 0

    out = tmp_path / "out.h5"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.run(
        [sys.executable, str(script), str(kill_at), "extract", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not out.exists()
    assert partial_path(out).exists()
    with h5py.File(partial_path(out)) as f:  # the killed file is still a valid HDF5 file
        assert 0 < int(f["done"][...].sum()) < 6

    capsys.readouterr()
    assert main(["extract", *args, "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert re.search(r"resuming .*out\.h5\.partial: [1-5] of 6 images done", log), log
    assert not partial_path(out).exists()
    with FeatureStore(ref) as a, FeatureStore(out) as b:
        np.testing.assert_array_equal(a.image_ids, b.image_ids)
        np.testing.assert_array_equal(a.load_all(), b.load_all())


def test_force_redoes_a_complete_file(coco_images, tmp_path, capsys):
    out = tmp_path / "o.h5"
    args = ["extract", "--input", str(coco_images), "--out", str(out), "--grid", "2"]
    assert main(args) == 0
    # Date the complete file back a day: a rewrite gets a later mtime, a skipped file keeps it
    # (a plain ">=" against the first write would also pass when nothing was written).
    old = os.stat(out).st_mtime_ns - 86_400 * 10**9
    os.utime(out, ns=(old, old))
    capsys.readouterr()
    assert main([*args, "--force"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert os.stat(out).st_mtime_ns > old
