"""Model metadata as it is stored inside exported files; importable without torch."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

STYLE_KIND = "stylestream.style"
GENERATOR_KIND = "stylestream.generator"  # StyleGAN generators: latents in, images out
# Arbitrary-style transfer (stylenets.arbitrary, method adain-light): the style encoder (a
# picture in, its style code out) and the frame net (frame, style code, strength in).
ARBITRARY_ENCODER_KIND = "stylestream.adain-light.style-encoder"
ARBITRARY_FRAME_KIND = "stylestream.adain-light.frame"
METADATA_FILE = "stylestream.json"  # the extra file inside TorchScript archives


def read_metadata(path: str | Path) -> dict[str, str]:
    """Metadata of an exported model without loading it into a runtime: ONNX metadata
    props, or the JSON extra file of a TorchScript archive."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx
        proto = onnx.load(str(path), load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(f"extra/{METADATA_FILE}"):
                return {k: str(v) for k, v in json.loads(zf.read(name)).items()}
    return {}
