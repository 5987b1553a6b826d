"""Convert MediaPipe's selfie segmentation nets (.tflite, from a mediapipe 0.10.x wheel) to the
ONNX files stylestream bundles in stylestream/models/segmentation/.

It runs once, by hand, in a throwaway virtualenv: tf2onnx's TFLite path needs TensorFlow, which
stylestream does not depend on, and tf2onnx 1.16 pins protobuf 3.20.

    python3 -m venv ../segconv
    ../segconv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnx==1.16.2 "numpy<2"
    pip download --no-deps mediapipe==0.10.21 -d ../wheels      # any 0.10.x wheel carries the nets
    ../segconv/bin/python tools/convert_selfie_segmentation.py ../wheels/mediapipe-0.10.21-*.whl

The nets end in MediaPipe's custom TFLite op Convolution2DTransposeBias (a transposed
convolution plus bias, the 2× upsampling to the output mask), which tf2onnx does not know; a
custom-op handler maps it to ONNX ConvTranspose. The ONNX files take N×3×H×W RGB in [0, 1] and
give N×1×H×W person probability, the layout the style engines use. tools/verify_selfie_segmentation.py
compares them with MediaPipe's own run of the .tflite files.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import struct
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "stylestream" / "models" / "segmentation"
WHEEL_DIR = "mediapipe/modules/selfie_segmentation"
VARIANTS = ("selfie_segmentation_landscape", "selfie_segmentation")
CUSTOM_OP = "Convolution2DTransposeBias"
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "rgb", "person"
# TfLitePadding, the first field of the op's custom options
TFLITE_PADDING = {1: "SAME", 2: "VALID"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def transpose_conv_options(tflite_path: Path) -> dict:
    """Stride, padding and tensor shapes of the net's one Convolution2DTransposeBias op. Its custom
    options are a raw TfLiteTransposeConvParams struct: padding, stride_width, stride_height (int32)."""
    from tf2onnx.tflite.Model import Model

    model = Model.GetRootAsModel(tflite_path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    found = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if code.CustomCode() and code.CustomCode().decode() == CUSTOM_OP:
            padding, stride_w, stride_h = struct.unpack("<3i", op.CustomOptionsAsNumpy().tobytes()[:12])
            shapes = [graph.Tensors(t).ShapeAsNumpy().tolist() for t in (*op.InputsAsNumpy(), *op.OutputsAsNumpy())]
            found.append({"padding": TFLITE_PADDING[padding], "strides": [stride_h, stride_w],
                          "input": shapes[0], "kernel": shapes[1], "output": shapes[3]})
    if len(found) != 1:
        raise SystemExit(f"{tflite_path}: expected one {CUSTOM_OP} op, found {len(found)}")
    return found[0]


def transpose_conv_handler(opts: dict):
    """A tf2onnx custom-op handler: NHWC input and OHWI kernel → ONNX ConvTranspose in NCHW
    with an IOHW kernel, transposed back to NHWC for the ops after it (tf2onnx's optimizer
    folds the transposes away)."""
    (_, in_h, in_w, _), (_, k_h, k_w, _), (_, out_h, out_w, _) = opts["input"], opts["kernel"], opts["output"]
    s_h, s_w = opts["strides"]
    pads = []
    for size_in, k, s, size_out in ((in_h, k_h, s_h, out_h), (in_w, k_w, s_w, out_w)):
        total = (size_in - 1) * s + k - size_out    # what the full transposed convolution has too many
        if total < 0:
            raise SystemExit(f"{CUSTOM_OP}: output {size_out} larger than the op can produce")
        pads.append((total // 2, total - total // 2))   # TensorFlow's SAME puts the odd pixel at the end

    def handler(ctx, node, name, args):
        x, kernel, bias = node.input
        x_nchw = ctx.make_node("Transpose", [x], attr={"perm": [0, 3, 1, 2]}).output[0]
        kernel_iohw = ctx.make_node("Transpose", [kernel], attr={"perm": [3, 0, 1, 2]}).output[0]
        ctx.replace_inputs(node, [x_nchw, kernel_iohw, bias])
        node.type = "ConvTranspose"
        node.domain = ""
        node.set_attr("kernel_shape", [k_h, k_w])
        node.set_attr("strides", [s_h, s_w])
        node.set_attr("pads", [pads[0][0], pads[1][0], pads[0][1], pads[1][1]])
        nhwc_shape = ctx.get_shape(node.output[0])
        ctx.insert_new_node_on_output("Transpose", node.output[0], perm=[0, 2, 3, 1])
        if nhwc_shape:
            n, h, w, c = nhwc_shape
            ctx.set_shape(node.output[0], [n, c, h, w])
    return handler


def let_transposes_through_hard_swish() -> None:
    """tf2onnx's transpose optimizer does not know HardSwish, so the NHWC↔NCHW transposes around
    the nets' 11 HardSwish ops stayed in the graph; it is elementwise, like Relu, which it knows."""
    from tf2onnx.optimizer.transpose_optimizer import TransposeOptimizer

    initialize = TransposeOptimizer._initialize_handlers

    def initialize_with_hard_swish(self):
        initialize(self)
        self._handler_map.setdefault("HardSwish", self._simple_through_handler)
    TransposeOptimizer._initialize_handlers = initialize_with_hard_swish


def rename(model, old: str, new: str) -> None:
    g = model.graph
    for node in g.node:
        node.input[:] = [new if i == old else i for i in node.input]
        node.output[:] = [new if o == old else o for o in node.output]
    for value in (*g.input, *g.output):
        if value.name == old:
            value.name = new


def convert(tflite_path: Path, wheel_name: str, out_path: Path) -> dict:
    import onnx
    import tf2onnx
    from tf2onnx import convert as tf2onnx_convert
    from tf2onnx.tflite.Model import Model

    model = Model.GetRootAsModel(tflite_path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    in_name = graph.Tensors(graph.Inputs(0)).Name().decode()
    out_name = graph.Tensors(graph.Outputs(0)).Name().decode()
    opts = transpose_conv_options(tflite_path)
    proto, _ = tf2onnx_convert.from_tflite(
        str(tflite_path), opset=OPSET, inputs_as_nchw=[in_name], outputs_as_nchw=[out_name],
        custom_op_handlers={f"TFL_{CUSTOM_OP}": (transpose_conv_handler(opts), [])})
    left = {n.op_type for n in proto.graph.node if n.op_type.startswith("TFL_") or n.domain}
    if left:
        raise SystemExit(f"{tflite_path}: ops left unconverted: {sorted(left)}")
    rename(proto, in_name, INPUT_NAME)
    rename(proto, out_name, OUTPUT_NAME)
    proto.producer_name, proto.producer_version = "tf2onnx", tf2onnx.__version__
    tflite_sha = sha256(tflite_path.read_bytes())
    meta = {"kind": "segmentation", "name": tflite_path.stem,
            "source": f"{wheel_name}:{WHEEL_DIR}/{tflite_path.name}", "source_sha256": tflite_sha,
            "license": "Apache-2.0", "input": "RGB in [0, 1], N×3×H×W, the whole frame resized (no letterbox)",
            "output": "person probability in [0, 1], N×1×H×W"}
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    tmp = out_path.with_suffix(".onnx.part")
    tmp.write_bytes(data)
    tmp.replace(out_path)
    shape = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    return {"tflite": tflite_path.name, "tflite_sha256": tflite_sha, "onnx": out_path.name,
            "onnx_sha256": sha256(data), "onnx_bytes": len(data), "input_shape": shape, "transpose_conv": opts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel", type=Path, help="a mediapipe 0.10.x wheel (pip download --no-deps mediapipe==0.10.21)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    import onnx
    import tensorflow as tf
    import tf2onnx

    match = re.match(r"mediapipe-(0\.10\.\d+)-", args.wheel.name)
    if not match:
        raise SystemExit(f"{args.wheel}: not a mediapipe 0.10.x wheel (later versions no longer carry the nets)")
    args.out.mkdir(parents=True, exist_ok=True)
    let_transposes_through_hard_swish()
    print(f"tf2onnx {tf2onnx.__version__}, tensorflow {tf.__version__}, onnx {onnx.__version__}, opset {OPSET}")
    print(f"wheel {args.wheel.name} sha256 {sha256(args.wheel.read_bytes())}")
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(args.wheel) as wheel:
        for variant in VARIANTS:
            member = f"{WHEEL_DIR}/{variant}.tflite"
            tflite_path = Path(tmp) / f"{variant}.tflite"
            tflite_path.write_bytes(wheel.read(member))
            info = convert(tflite_path, args.wheel.name, args.out / f"{variant}.onnx")
            print(f"{member}: sha256 {info['tflite_sha256']}")
            print(f"  -> {info['onnx']} ({info['onnx_bytes']} bytes, input {info['input_shape']}) "
                  f"sha256 {info['onnx_sha256']}")
            print(f"  {CUSTOM_OP}: {info['transpose_conv']}")


if __name__ == "__main__":
    main()
