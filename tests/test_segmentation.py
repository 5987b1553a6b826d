"""The bundled person segmentation nets (stylestream.segmentation): they load with the shapes
their provenance states, mark a person in a real portrait and nothing in pictures without one,
and give a mask of the frame's size for any frame."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from conftest import ROOT, SHARED
from stylestream.backends.select import hardware
from stylestream.errors import UserError
from stylestream.segmentation import MODEL_DIR, VARIANTS, PersonSegmenter, read_model

INPUT_SIZES = {"landscape": (144, 256), "square": (256, 256)}
PORTRAIT = SHARED / "content" / "train_extra" / "cnnmrf_potrait1.jpg"   # a face filling the middle, plain backdrop
RUNTIMES = ["onnxruntime"] + (["openvino"] if hardware().openvino else [])


def portrait() -> np.ndarray:
    import cv2
    if not PORTRAIT.exists():
        pytest.skip(f"needs the shared data set ({PORTRAIT} is absent)")
    return cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_bundled_model_loads_with_its_shapes_and_provenance(variant):
    path = MODEL_DIR / VARIANTS[variant]
    assert path.stat().st_size <= 8 << 20
    _, meta, size = read_model(path)
    assert size == INPUT_SIZES[variant]
    assert meta["kind"] == "segmentation" and meta["license"] == "Apache-2.0"
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.shape == [1, 3, *size] and inp.type == "tensor(float)"
    assert out.shape == [1, 1, *size]
    # PROVENANCE.md names each file's hash: a replaced model without its provenance fails here.
    provenance = (MODEL_DIR / "PROVENANCE.md").read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() in provenance
    assert meta["source_sha256"] in provenance
    described = PersonSegmenter(variant).describe()
    assert described["model"] == path.stem and described["input"] == f"{size[1]}x{size[0]}"
    assert described["runtime"] == "onnxruntime" and described["license"] == "Apache-2.0"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_portrait_mask_is_high_on_the_face_and_low_in_the_corners(runtime):
    rgb = portrait()
    mask = PersonSegmenter(runtime=runtime)(rgb)
    h, w = mask.shape
    assert mask.shape == rgb.shape[:2] and mask.dtype == np.float32
    face = mask[int(0.4 * h):int(0.6 * h), int(0.35 * w):int(0.65 * w)]
    assert face.min() > 0.9, face.min()
    # The top corners are backdrop; the bottom ones are the sitter's shirt.
    corner = 0.1
    for top_corner in (mask[:int(corner * h), :int(corner * w)], mask[:int(corner * h), -int(corner * w):]):
        assert top_corner.max() < 0.1, top_corner.max()


def test_the_mask_follows_the_person_across_the_frame():
    """The portrait pasted on the right of a wide grey frame: mask there, none on the left (a
    transposed or mirrored resize would put it elsewhere)."""
    rgb = portrait()
    canvas = np.full((360, 640, 3), 128, np.uint8)
    import cv2
    small = cv2.resize(rgb, (230, 300), interpolation=cv2.INTER_AREA)
    canvas[60:, 380:610] = small
    mask = PersonSegmenter()(canvas)
    assert mask[150:250, 440:550].mean() > 0.9
    assert mask[:, :300].max() < 0.1


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_person_gives_a_low_mask(variant):
    import cv2
    h, w = 360, 640
    yy, xx = np.mgrid[0:h, 0:w]
    scene = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 128)], -1).astype(np.uint8)
    cv2.rectangle(scene, (100, 80), (300, 300), (200, 40, 40), -1)
    cv2.circle(scene, (480, 180), 90, (30, 200, 60), -1)
    noise = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8), (0, 0), 3)
    segmenter = PersonSegmenter(variant)
    for picture in (scene, noise):
        assert segmenter(picture).mean() < 0.02


@pytest.mark.parametrize("height,width", [(1, 1), (7, 3), (3, 7), (33, 17), (481, 641), (1080, 1)])
def test_mask_has_the_frame_size_and_range_for_odd_sizes(height, width):
    rgb = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), np.uint8)
    mask = PersonSegmenter()(rgb)
    assert mask.shape == (height, width) and mask.dtype == np.float32
    assert np.isfinite(mask).all() and mask.min() >= 0 and mask.max() <= 1


def test_runtimes_agree():
    if not hardware().openvino:
        pytest.skip("OpenVINO is not installed")
    rgb = np.random.default_rng(1).integers(0, 256, (200, 300, 3), np.uint8)
    rgb[50:150, 100:200] = 220
    a, b = PersonSegmenter(runtime="onnxruntime")(rgb), PersonSegmenter(runtime="openvino")(rgb)
    assert np.abs(a - b).max() < 1e-3


@pytest.mark.parametrize("frame", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                   np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8)])
def test_frames_that_are_not_rgb_uint8_are_refused(frame):
    with pytest.raises(ValueError):
        PersonSegmenter()(frame)


def test_style_model_and_missing_file_are_refused_with_one_line(tmp_path):
    with pytest.raises(UserError, match="not a segmentation model"):
        PersonSegmenter(path=ROOT / "stylestream" / "models" / "candy.compact.onnx")
    with pytest.raises(UserError, match="not found"):
        PersonSegmenter(path=tmp_path / "absent.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx file")
    with pytest.raises(UserError, match="not a loadable ONNX model"):
        PersonSegmenter(path=junk)
    with pytest.raises(UserError, match="unknown"):
        PersonSegmenter("portrait")


def test_segmentation_does_not_import_torch():
    code = ("import sys, numpy as np; from stylestream.segmentation import PersonSegmenter; "
            "PersonSegmenter()(np.zeros((36, 64, 3), np.uint8)); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_wheel_package_data_holds_the_segmentation_files():
    """setuptools globs package data like Path.glob: `models/*.onnx` leaves out a subfolder."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["stylestream"]
    packaged = {path for pattern in patterns for path in (ROOT / "stylestream").glob(pattern)}
    assert set(MODEL_DIR.iterdir()) <= packaged, sorted(set(MODEL_DIR.iterdir()) - packaged)
