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
    import onnx
    import torch
    from onnx import numpy_helper

    from stylenets.transformer_net import InstanceNorm, build

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable ONNX model ({exc.__class__.__name__})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("kind") != STYLE_KIND:
        raise ValueError(f"{path}: not a stylestream style network (its metadata kind is {meta.get('kind')!r})")
    try:
        upsample = {"upsample": meta["upsample"]} if "upsample" in meta else {}
        net = build(meta["arch"], width=int(meta["width"]), res_blocks=int(meta["res_blocks"]), **upsample)
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path}: its metadata does not describe a stylestream transform net") from None
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:  # equal tensors (e.g. untrained norms) are shared through Identity
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            inits[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in inits:
            inits[node.output[0]] = inits[node.input[0]]
    weights = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in inits.items() if v.dtype.kind == "f"}
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
