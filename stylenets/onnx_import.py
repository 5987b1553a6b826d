"""A transform net rebuilt in PyTorch from one of stylestream's ONNX exports.

The exports hold each net's folded form and name the architecture, width and residual
blocks in their metadata; the weights are read from the graph's initializers and mapped back
to the trained net's names by the net's own `unfold_state`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stylenets.metadata import STYLE_KIND


def net_from_onnx(path: str | Path):
    """(PyTorch transform net in fp32 eval mode, metadata). Raises ValueError, with a
    one-line reason, for a file that is not such an export or does not map cleanly."""
    import torch

    from stylenets.transformer_net import InstanceNorm, build

    model, meta = _load_export(path, STYLE_KIND, "a stylestream style network")
    try:
        options = {k: cast(meta[k]) for k, cast in (("upsample", str), ("margin", int)) if k in meta}
        net = build(meta["arch"], width=int(meta["width"]), res_blocks=int(meta["res_blocks"]), **options)
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path}: its metadata does not describe a stylestream transform net") from None
    weights = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in _float_tensors(model).items()}
    weights = net.unfold_state(weights, {n.op_type for n in model.graph.node})
    state = {k: weights[k] for k in net.state_dict() if k in weights}
    # The exporter renames instance-norm scales and shifts; they follow the modules' order.
    norms = [name for name, m in net.named_modules() if isinstance(m, InstanceNorm)]
    nodes = [n for n in model.graph.node if n.op_type == "InstanceNormalization"]
    if len(norms) == len(nodes):
        for name, node in zip(norms, nodes):
            if node.input[1] in weights and node.input[2] in weights:
                state.setdefault(f"{name}.weight", weights[node.input[1]])
                state.setdefault(f"{name}.bias", weights[node.input[2]])
    missing = [k for k in net.state_dict() if k not in state]
    if missing:
        raise ValueError(f"{path}: cannot rebuild it for PyTorch (no weights for {missing[0]}); use its .pt export")
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise ValueError(f"{path}: its weights do not fit the net its metadata describes") from None
    return net.eval(), meta


def arbitrary_net_from_onnx(path: str | Path):
    """(PyTorch arbitrary-style network in fp32 eval mode, metadata) from an exported
    PREFIX.frame.onnx, which holds every weight (the style encoder is the frame's own encoder):
    an installed or exported model as a training start. Checked against ONNX Runtime on a
    small input; raises ValueError, with a one-line reason, for anything else."""
    import onnxruntime as ort
    import torch

    from stylenets import folding
    from stylenets.arbitrary import VGG_CODE_LAYERS, ArbitraryStyleNet
    from stylenets.metadata import ARBITRARY_FRAME_KIND

    model, meta = _load_export(path, ARBITRARY_FRAME_KIND, "an arbitrary-style frame network")
    try:
        net = ArbitraryStyleNet(int(meta["width"]), int(meta["enc_blocks"]), int(meta["dec_blocks"]),
                                int(meta["hidden"]), meta.get("output", "shuffle"), meta.get("code", "light"))
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path}: its metadata does not describe an arbitrary-style network") from None
    weights = folding.unfold_kernels({k: torch.from_numpy(np.array(v, dtype=np.float32))
                                      for k, v in _float_tensors(model).items()})
    first = "encoder.to_half.0.weight"  # exported after SpaceToDepth (ArbitraryStyleNet.folded)
    if first in weights:
        weights[first] = folding.s2d_weights_to_unshuffle(weights[first])
    missing = [k for k in net.state_dict() if k not in weights]
    if missing:
        raise ValueError(f"{path}: cannot rebuild it for PyTorch (no weights for {missing[0]})")
    try:
        net.load_state_dict({k: weights[k] for k in net.state_dict()})
    except RuntimeError:
        raise ValueError(f"{path}: its weights do not fit the network its metadata describes") from None
    net.eval()
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, 48, 64), dtype=np.float32)
    # A vgg code's VGG part from made-up features: the frame file does not hold VGG16.
    features = {n: torch.from_numpy(rng.random((1, c, 8, 8), dtype=np.float32)) for n, c in VGG_CODE_LAYERS.items()}
    code = net.style_code(torch.from_numpy(rng.random((1, 3, 64, 64), dtype=np.float32)), features).detach()
    feed = {"input": x, "style_code": code.numpy(), "strength": np.array([1.0], dtype=np.float32)}
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    with torch.no_grad():
        got = net(torch.from_numpy(x), code).numpy()
    if float(np.abs(want - got).max()) > 2e-3:
        raise ValueError(f"{path}: the rebuilt network differs from the file")
    return net, meta


def _load_export(path: str | Path, kind: str, what: str):
    """(ONNX model, metadata) of a stylestream export whose metadata `kind` is `kind`;
    ValueError with a one-line reason otherwise (`what` names the expected file)."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable ONNX model ({exc.__class__.__name__})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("kind") != kind:
        raise ValueError(f"{path}: not {what} (its metadata kind is {meta.get('kind')!r})")
    return model, meta


def _float_tensors(model) -> dict[str, np.ndarray]:
    """A graph's float initializers and constants by name; equal tensors (e.g. untrained
    norms) are shared through Identity and appear under each name."""
    from onnx import numpy_helper

    tensors = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    return {k: v for k, v in tensors.items() if v.dtype.kind == "f"}
