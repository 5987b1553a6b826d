"""The PyTorch device a model runs on."""
from __future__ import annotations


def pick_device(name: str = "auto"):
    """'auto' (CUDA where PyTorch sees a GPU, else the CPU), 'cpu' or 'cuda'; ValueError when
    'cuda' is asked for and there is none."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but PyTorch sees no CUDA device")
    return torch.device(name)
