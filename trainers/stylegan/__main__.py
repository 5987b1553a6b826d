from trainers.cli import TRAIN_GAN

TRAIN_GAN.main(prog="python -m trainers.stylegan")
