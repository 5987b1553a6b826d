"""The defaults of the Gatys optimization (stylenets.gatys) and its one style/content knob,
without PyTorch, so that the command line can show and check them before torch loads."""
from __future__ import annotations

# 0 keeps the photo, 1 paints the painting's texture with no regard for the photo.
BALANCE_RANGE = (0.0, 1.0)
DEFAULT_BALANCE = 0.5
# The style weight over the content weight at balance 0.5. Both terms are relative: the
# content term is the squared relative feature distance at relu3_3 (0 at the start), the
# style term the sum of four layers' squared relative Gram distances (near 4 for a photo
# against a painting); this ratio sets where the middle of the knob lands.
STYLE_TO_CONTENT_AT_MIDDLE = 1.0
DEFAULT_SCALES = (0.5, 1.0)
DEFAULT_STEPS = (60, 40)           # per scale; a step at scale 0.5 costs a quarter of one at 1.0


def balance_weights(balance: float) -> tuple[float, float]:
    """(content weight, style weight) of the relative losses at `balance` in BALANCE_RANGE:
    (1 − b) and b × STYLE_TO_CONTENT_AT_MIDDLE."""
    low, high = BALANCE_RANGE
    if not low <= balance <= high:
        raise ValueError(f"balance must be in [{low:g}, {high:g}], got {balance:g}")
    return 1.0 - balance, balance * STYLE_TO_CONTENT_AT_MIDDLE
