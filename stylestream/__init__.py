"""stylestream: real-time neural style transfer for video files, cameras and images."""

__version__ = "0.1.0"
