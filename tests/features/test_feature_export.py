"""The export backend on tiny conv nets exported in the test, with TRAR and CLEVR grids."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.export import Dim

from lsat.cli import main
from lsat.features.grid import imagenet_normalize, trar_normalize
from lsat.features.store import FeatureStore


class PatchNet(torch.nn.Module):
    """Non-overlapping k×k patches → C channels, ReLU (a stride-k backbone in miniature)."""

    def __init__(self, k: int, channels: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, channels, kernel_size=k, stride=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x)) + 0.01


def _export(net, example, dynamic, path):
    torch.manual_seed(0)
    net.eval()
    program = torch.export.export(net, (example,), dynamic_shapes={"x": dynamic})
    torch.export.save(program, str(path))
    return net


def _input(path, size, resample, trar=False):
    img = Image.open(path).convert("RGB").resize(size, resample)
    x = torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy()).float()
    return trar_normalize(x[None]) if trar else imagenet_normalize(x[None] / 255.0)


def test_export_trar_pads_and_pools(coco_images, tmp_path):
    torch.manual_seed(0)
    net = PatchNet(32, 4)
    model = tmp_path / "net.pt2"
    _export(net, torch.randn(2, 3, 64, 96), {0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}, model)
    out = tmp_path / "trar.h5"
    argv = ["extract", "--backend", "export", "--export-model", str(model), "--input"]
    argv += [str(coco_images), "--out", str(out), "--preprocess", "trar", "--grid", "8"]
    assert main([*argv, "--batch-size", "4"]) == 0
    # 24×16 images → 900×600 input → 28×18 map → padded rows 7..24, columns 2..29 of 32.
    with FeatureStore(out) as store, torch.no_grad():
        assert (store.grid, store.channels, store.image_ids.tolist()) == (8, 4, [1, 2, 3, 4, 5, 6])
        assert store.backbone == "export:net.pt2+trar"
        feat = store.get(3).reshape(8, 8, 4)
        assert np.all(feat[0] == 0) and np.all(feat[7] == 0)
        assert np.all(feat[1:7] > 0)
        image = coco_images / "COCO_train2014_000000000003.png"
        x = _input(image, (900, 600), Image.BILINEAR, trar=True)
        y = net(x)
        assert y.shape == (1, 4, 18, 28)
        expected = F.max_pool2d(F.pad(y, (2, 2, 7, 7)), 4)[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(feat.astype(np.float32), expected, rtol=2e-3, atol=2e-3)


def test_export_clevr_and_static_batch_error(coco_images, tmp_path, capsys):
    torch.manual_seed(0)
    net = PatchNet(16, 5)
    model = tmp_path / "clevr.pt2"
    _export(net, torch.randn(2, 3, 224, 224), {0: Dim.AUTO}, model)
    out = tmp_path / "clevr.h5"
    argv = ["extract", "--backend", "export", "--export-model", str(model), "--input"]
    argv += [str(coco_images), "--preprocess", "clevr", "--grid", "14", "--batch-size", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    with FeatureStore(out) as store, torch.no_grad():
        assert (store.grid, store.channels) == (14, 5)
        x = _input(coco_images / "COCO_train2014_000000000006.png", (224, 224), Image.BICUBIC)
        expected = net(x)[0].reshape(5, 196).T.numpy()
        np.testing.assert_allclose(store.get(6).astype(np.float32), expected, rtol=2e-3, atol=2e-3)

    static = tmp_path / "static.pt2"
    _export(PatchNet(16, 5), torch.randn(1, 3, 224, 224), None, static)
    argv[argv.index(str(model))] = str(static)
    assert main([*argv, "--out", str(tmp_path / "s.h5")]) == 2
    assert "Export the backbone with a dynamic batch dimension" in capsys.readouterr().err
    assert main([*argv, "--grid", "7", "--out", str(tmp_path / "g.h5")]) == 2
    assert "expects a (B, C, 7, 7) map" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["flag", "file"])
def test_export_model_missing(coco_images, tmp_path, capsys, missing):
    argv = ["extract", "--backend", "export", "--input", str(coco_images)]
    argv += ["--out", str(tmp_path / "o.h5")]
    if missing == "file":
        argv += ["--export-model", str(tmp_path / "none.pt2")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert ("needs features.export_model" if missing == "flag" else "none.pt2") in err


def test_export_trar_batches_images_of_different_sizes(tmp_path, make_images):
    folder = tmp_path / "imgs"
    make_images(folder, ["1.png", "3.png"], size=(24, 16), seed=1)
    make_images(folder, ["2.png"], size=(16, 32), seed=2)
    torch.manual_seed(0)
    net = PatchNet(32, 3)
    model = tmp_path / "net.pt2"
    _export(net, torch.randn(2, 3, 64, 96), {0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}, model)
    out = tmp_path / "mixed.h5"
    argv = ["extract", "--backend", "export", "--export-model", str(model), "--grid", "16"]
    assert main([*argv, "--input", str(folder), "--out", str(out), "--batch-size", "3"]) == 0
    with FeatureStore(out) as store, torch.no_grad():
        # 16×32 (w×h) → 500×1000 input (longer side capped) → 31×15 map (h×w), portrait:
        # transposed to 15×31 (TRAR's Transpose_tensor), then rows 8..22 and columns 0..30
        x = _input(folder / "2.png", (500, 1000), Image.BILINEAR, trar=True)
        y = net(x)
        assert y.shape == (1, 3, 31, 15)
        canvas = F.pad(y.transpose(2, 3), (0, 1, 8, 9))
        expected = F.max_pool2d(canvas, 2)[0].permute(1, 2, 0).reshape(256, 3).numpy()
        np.testing.assert_allclose(store.get(2).astype(np.float32), expected, rtol=2e-3, atol=2e-3)
        assert store.get(1).reshape(16, 16, 3)[0].max() == 0  # wide images: top rows padded


def test_trar_input_size_keeps_aspect_within_600_1000():
    from lsat.features.export import trar_input_size

    assert trar_input_size(640, 480) == (800, 600)
    assert trar_input_size(480, 640) == (600, 800)
    assert trar_input_size(2000, 500) == (1000, 250)
    assert trar_input_size(600, 600) == (600, 600)
    # detectron2 arithmetic: 601×401 → 899.25 wide → 899; a 1001×2 strip capped at 1000
    assert trar_input_size(601, 401) == (899, 600)
    assert trar_input_size(1001, 2) == (1000, 2)


class _Evil:
    """Unpickles into a shell command creating ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _poisoned(src, dst, marker, how):
    """A copy of the .pt2 ``src`` whose first weight is a pickle running a shell command
    (``weight``), or that holds a pickled opaque object (``opaque``)."""
    import io
    import json
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if how == "weight" and info.filename.endswith("model_weights_config.json"):
                cfg = json.loads(data)
                next(iter(cfg["config"].values()))["use_pickle"] = True
                data = json.dumps(cfg).encode()
            elif how == "weight" and info.filename.endswith("weights/weight_0"):
                buf = io.BytesIO()
                torch.save(_Evil(marker), buf)
                data = buf.getvalue()
            zout.writestr(info, data)
        if how == "opaque":
            zout.writestr(info.filename.split("/")[0] + "/data/constants/opaque_obj_0", b"x")
    return dst


@pytest.mark.parametrize("how", ["weight", "opaque"])
def test_export_model_cannot_run_code(coco_images, tmp_path, capsys, how):
    good = tmp_path / "net.pt2"
    _export(
        PatchNet(32, 4), torch.randn(2, 3, 64, 96), {0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}, good
    )
    marker = tmp_path / "marker"
    evil = _poisoned(good, tmp_path / "evil.pt2", marker, how)
    argv = ["extract", "--backend", "export", "--export-model", str(evil), "--input"]
    argv += [str(coco_images), "--out", str(tmp_path / "o.h5"), "--preprocess", "trar"]
    assert main(argv) == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert f"{evil} refused" in err and ("posix.system" in err or "opaque_obj_0" in err)
