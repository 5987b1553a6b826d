"""Reading torch files a user hands us without running code from them.

torch.load unpickles, and unpickling calls whatever functions the file names. Every file
stylestream reads with torch (checkpoints, VGG weights) goes through `load_tensors`, which
accepts tensors and plain containers only (weights_only=True) and refuses anything else.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

# Older checkpoints stored numpy's RNG state as an ndarray of uint32: these rebuild a plain
# array and nothing else (an object array would need further globals, which stay refused).
_reconstruct = (np._core if hasattr(np, "_core") else np.core).multiarray._reconstruct
_NUMPY_ARRAY_GLOBALS = [_reconstruct, (_reconstruct, "numpy.core.multiarray._reconstruct"),
                        np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load_tensors(path: str | Path, what: str):
    """The file's tensors and plain containers, on the CPU. Raises ValueError with a one-line
    reason for a missing, damaged or foreign file, and for one that holds other objects."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} not found: {path}")
    try:
        # torch warns about a foreign pickle protocol before refusing it: keep failures to one line
        with torch.serialization.safe_globals(_NUMPY_ARRAY_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f"{path}: refused: it holds Python objects besides tensors, and loading it "
                         f"would run code it names; is it a stylestream {what}?") from None
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise ValueError(f"{path}: not a readable {what} ({exc.__class__.__name__})") from None
