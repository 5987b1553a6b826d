"""Every argument of every command says what it is, and what it is when left out."""
from __future__ import annotations

import argparse

from conftest import run_cli


def _parsers(parser: argparse.ArgumentParser, path=("stylestream",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_argument_has_help_and_shows_its_default():
    from stylestream.cli import build_parser

    missing, no_default = [], []
    seen = set()
    for path, parser in _parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            name = " ".join(path) + " " + (action.option_strings[0] if action.option_strings else action.dest)
            seen.add(path)
            if not (action.help or "").strip():
                missing.append(name)
                continue
            shown = formatter._expand_help(action) if hasattr(formatter, "_expand_help") else action.help
            meaningful = action.default not in (None, False, argparse.SUPPRESS)
            if meaningful and "default" not in shown:
                no_default.append(f"{name} ({action.default!r})")
    assert {("stylestream", c) for c in ("video", "image", "webcam", "info", "generate", "dream", "train",
                                         "train-gan")} <= seen
    assert not missing, "arguments without help: " + ", ".join(missing)
    assert not no_default, "defaults not shown: " + ", ".join(no_default)


def test_help_lists_the_zoo_and_train_help_shows_defaults():
    from stylestream.zoo import zoo_models

    video_help = run_cli("video", "--help").stdout
    assert all(name in video_help for name in zoo_models())
    from trainers.config import TrainConfig

    defaults = TrainConfig("", "", "")
    train_help = " ".join(run_cli("train", "--help").stdout.split())     # argparse wraps the lines
    assert f"one batch each) (default: {defaults.steps})" in train_help
    assert f"(default: {defaults.precision})" in train_help and f"(default: {defaults.lr})" in train_help
