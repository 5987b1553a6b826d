"""The model library: the style networks and their inference (folded) form, reading their
weights from checkpoints and ONNX files without unpickling, and the VGG16 perceptual loss.

The runtime's PyTorch path, the trainers and the exporters all use it; it imports none of
them. Importing the package itself needs no torch.
"""
