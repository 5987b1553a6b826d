from trainers.cli import TRAIN

TRAIN.main(prog="python -m trainers.fast_nst")
