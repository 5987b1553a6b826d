"""`stylestream eval style`: how close stylized images are to the style, and to the content.

style distance: mean over relu1_2…relu4_3 of ‖G(output) − G(style)‖ / ‖G(style)‖
content distance: ‖F(output) − F(content)‖ / ‖F(content)‖ at relu3_3
(VGG16, ImageNet weights; lower is better on both axes). The style image is compared at
`--style-size` on its longer side, the content photo at each output's own size.
"""
from __future__ import annotations

from pathlib import Path

from stylestream.errors import UserError


def style_quality(outputs: list[str], content: str, style_image: str, vgg_weights: str | None = None,
                  style_size: int = 512) -> dict:
    import torch

    from trainers.data import read_image
    from trainers.perceptual import VGGFeatures, VggWeightsError, load_vgg16_features, style_distances

    try:
        vgg = VGGFeatures(load_vgg16_features(vgg_weights))
    except VggWeightsError as exc:
        raise UserError(str(exc)) from None

    def load(path: str, max_side: int | None = None) -> torch.Tensor:
        if not Path(path).is_file():
            raise UserError(f"image not found: {path}")
        try:
            return read_image(path, max_side).unsqueeze(0)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    content_t, style_t = load(content), load(style_image, style_size)
    rows = []
    for out in outputs:
        d = style_distances(vgg, load(out), content_t, style_t)
        rows.append({"output": out, **{k: round(v, 4) for k, v in d.items()}})
    return {"content": content, "style_image": style_image, "style_size": style_size, "results": rows}
