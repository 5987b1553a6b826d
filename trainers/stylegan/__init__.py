"""StyleGAN2 trainer, split as NVlabs' stylegan2-ada-pytorch: networks, loss, augment,
metrics and the training loop each in their own module; options in `config` (torch-free).

    python -m trainers.stylegan --data photos/ --resolution 64 --out gen.onnx
"""
