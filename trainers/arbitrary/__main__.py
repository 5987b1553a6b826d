from trainers.cli import TRAIN_ARBITRARY

TRAIN_ARBITRARY.main(prog="python -m trainers.arbitrary")
