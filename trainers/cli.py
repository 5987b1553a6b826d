"""The trainers' subcommands of `stylestream`: `train`, `train-gan` and `train-arbitrary`.

The stylestream CLI finds them through the `stylestream.commands` entry points
(pyproject.toml) and never imports the trainers itself. Each is a `Command`: its name, a
help line, its options, what it runs, and which of its exceptions are the user's to fix
(a missing or unreadable file, a bad option), which the CLI prints as one line with exit
status 2. Importing this module needs no torch, so `stylestream --help` stays fast.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    user_errors: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError)

    def main(self, argv: list[str] | None = None, prog: str | None = None) -> None:
        """The same command as a `python -m` module: the user's errors as one line, exit 2."""
        p = argparse.ArgumentParser(prog=prog, description=self.help)
        self.add_arguments(p)
        args = p.parse_args(argv)
        try:
            code = self.run(args)
        except self.user_errors as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = 2
        raise SystemExit(code)


def _print_exports(result: dict) -> None:
    for variant, (path, diff) in result.get("exports", {}).items():
        print(f"exported {variant}: {path} (parity max |Δ| {diff:.2e})")


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    from trainers.config import add_arguments
    add_arguments(p)


def _train(args: argparse.Namespace) -> int:
    from trainers.config import config_from_args
    from trainers.fast_nst import train

    result = train(config_from_args(args))
    last = result["history"][-1] if result["history"] else {}
    print(f"trained to step {result['steps']} at {result['steps_per_second']:.2f} steps/s; last losses: "
          + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "step"))
    _print_exports(result)
    return 0


def _add_train_gan_arguments(p: argparse.ArgumentParser) -> None:
    from trainers.stylegan.config import add_arguments
    add_arguments(p)


def _train_gan(args: argparse.Namespace) -> int:
    from trainers.stylegan.config import config_from_args
    from trainers.stylegan.training_loop import train

    result = train(config_from_args(args))
    for m in result["metrics"][-1:]:
        print(f"{m['metric']} {m['value']:.4g} at step {m['step']} ({m['samples']} samples)")
    _print_exports(result)
    return 0


def _add_train_arbitrary_arguments(p: argparse.ArgumentParser) -> None:
    from trainers.arbitrary.config import add_arguments
    add_arguments(p)


def _train_arbitrary(args: argparse.Namespace) -> int:
    from trainers.arbitrary.loop import train
    from trainers.arbitrary.config import config_from_args

    result = train(config_from_args(args))
    last = result["history"][-1] if result["history"] else {}
    print(f"trained to step {result['steps']} at {result['steps_per_second']:.2f} steps/s; last losses: "
          + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "step"))
    _print_exports(result)
    return 0


TRAIN = Command("train", "train a fast style-transfer net and export it", _add_train_arguments, _train)
TRAIN_GAN = Command("train-gan", "train a StyleGAN2 generator on a folder of images and export it",
                    _add_train_gan_arguments, _train_gan)
TRAIN_ARBITRARY = Command("train-arbitrary", "train the arbitrary-style network (any picture as a style) and export it",
                          _add_train_arbitrary_arguments, _train_arbitrary)
