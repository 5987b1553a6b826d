"""Person segmentation with MediaPipe's selfie segmentation nets, bundled as ONNX in
stylestream/models/segmentation/ (PROVENANCE.md there: source, licence, conversion).

`PersonSegmenter(frame)` gives a float32 mask at the frame's size, 1 where it sees a person.
It runs the net the way MediaPipe's own graph does: the whole RGB frame warped (no letterbox)
to the net's input, values scaled to [0, 1]; the net's one output channel is already the
person probability (its last op is a sigmoid), resized bilinearly back to the frame.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from stylestream.backends.onnxruntime import onnx_session
from stylestream.backends.openvino import openvino_reason
from stylestream.backends.select import hardware
from stylestream.errors import UserError

MODEL_DIR = Path(__file__).resolve().parent / "models" / "segmentation"
# landscape: 256×144, for video and cameras; square: 256×256, for portrait-shaped pictures
VARIANTS = {"landscape": "selfie_segmentation_landscape.onnx", "square": "selfie_segmentation.onnx"}
RUNTIMES = ("auto", "onnxruntime", "openvino")
SEGMENTATION_KIND = "segmentation"


def model_path(variant: str = "landscape") -> Path:
    if variant not in VARIANTS:
        raise UserError(f"unknown segmentation model {variant!r} (choose from {', '.join(VARIANTS)})")
    return MODEL_DIR / VARIANTS[variant]


def read_model(path: Path):
    """The ONNX graph of a segmentation net, checked: one float32 N×3×H×W input of fixed size,
    one N×1×H×W output, and `kind` metadata saying it is a segmentation net."""
    import onnx

    if not path.is_file():
        raise UserError(f"segmentation model not found: {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise UserError(f"{path}: not a loadable ONNX model ({str(exc).strip()[:200]})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("kind") != SEGMENTATION_KIND:
        raise UserError(f"{path}: not a segmentation model (its metadata kind is {meta.get('kind')!r})")
    graph = model.graph
    dims = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*graph.input, *graph.output)]
    if len(graph.input) != 1 or len(graph.output) != 1 or len(dims[0]) != 4 or dims[0][1] != 3 \
            or 0 in dims[0][2:] or dims[1][1:] != [1, *dims[0][2:]] \
            or graph.input[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise UserError(f"{path}: expected one float32 N×3×H×W input of fixed size and one N×1×H×W output")
    return model, meta, (dims[0][2], dims[0][3])


class PersonSegmenter:
    """A person mask for RGB frames. `runtime` auto is ONNX Runtime, which every install has:
    OpenVINO runs this net no faster (landscape, one thread: 2.9 ms against 2.4 at the 10th
    percentile; benchmarks/segmentation.py). `threads` defaults to one: the mask is meant to
    run beside the style net, not to take its cores. Calls from several threads at once are safe."""

    def __init__(self, variant: str = "landscape", runtime: str = "auto", threads: int = 1,
                 path: str | Path | None = None):
        if runtime not in RUNTIMES:
            raise UserError(f"unknown runtime {runtime!r} (choose from {', '.join(RUNTIMES)})")
        self.path = Path(path) if path is not None else model_path(variant)
        _, self.metadata, self.input_size = read_model(self.path)
        self.name = self.metadata.get("name", self.path.stem)
        self.runtime = "onnxruntime" if runtime == "auto" else runtime
        self.threads = max(1, threads)
        self._local = threading.local()
        if self.runtime == "openvino":
            if not hardware().openvino:
                raise UserError("OpenVINO is not installed (pip install openvino)")
            self._open_openvino()
        else:
            self._open_onnxruntime()

    def _open_onnxruntime(self) -> None:
        self._session, _ = onnx_session(self.path, threads=self.threads)
        self._input_name = self._session.get_inputs()[0].name

    def _open_openvino(self) -> None:
        import openvino as ov

        core = ov.Core()
        try:
            compiled = core.compile_model(core.read_model(str(self.path)), "CPU", {
                "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(self.threads),
                # fp32: the arithmetic tools/verify_selfie_segmentation.py checked the masks in
                "INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": "NO"})
        except Exception as exc:
            raise UserError(f"{self.path}: OpenVINO cannot compile it ({openvino_reason(exc)})") from None
        self._compiled = compiled

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The raw net: float32 N×3×h×w RGB in [0, 1] at the net's input size → N×1×h×w probability.
        The result may be reused by the same thread's next call."""
        if self.runtime == "openvino":
            request = getattr(self._local, "request", None)
            if request is None:
                request = self._local.request = self._compiled.create_infer_request()
            return request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})[0]
        return self._session.run(None, {self._input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB → the net's 1×3×h×w input: the whole frame stretched to h×w, in [0, 1]."""
        import cv2

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
            raise ValueError(f"expected a uint8 H×W×3 RGB frame, got {rgb.dtype} {rgb.shape}")
        h, w = self.input_size
        height, width = rgb.shape[:2]
        # MediaPipe's resize: the frame's corners onto the input's corners (cv2.resize maps pixel
        # centres instead, a shift of up to a pixel that moved the seam by up to 0.94 in the mask).
        corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        to_input = cv2.getPerspectiveTransform(corners, np.float32([[0, 0], [w, 0], [w, h], [0, h]]))
        small = cv2.warpPerspective(rgb, to_input, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return small.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB → float32 H×W mask in [0, 1], 1 where a person is."""
        import cv2

        probability = self.infer(self.preprocess(rgb))[0, 0]
        mask = cv2.resize(probability, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        mask = mask.reshape(rgb.shape[:2])   # cv2 drops a 1-pixel axis
        return np.clip(mask, 0.0, 1.0, out=mask)

    def describe(self) -> dict:
        """What --json reports about the segmentation model."""
        h, w = self.input_size
        return {"model": self.name, "file": str(self.path), "input": f"{w}x{h}", "runtime": self.runtime,
                "threads": self.threads, "license": self.metadata.get("license", "")}
