"""stylestream: real-time neural style transfer for video files, cameras and images.

The Python API (stylestream.api) is importable from here; it loads on first use, so
`import stylestream` stays light:

    with stylestream.open(style="candy") as stylize:
        out = stylize(frame)
"""

__version__ = "0.1.0"

_API = ("open", "video", "videos", "image", "images", "optimize", "webcam", "generate", "dream", "StyleOptions",
        "StreamStylizer", "UserError")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from stylestream import api
        return getattr(api, name)
    raise AttributeError(f"module 'stylestream' has no attribute {name!r}")
