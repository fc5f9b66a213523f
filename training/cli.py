"""`python -m training <command>`: a thin dispatcher. Only the chosen command's module is imported, so
`check` or `world` do not pay for importing torch."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "world": "make a synthetic visual-shop world with known taste",
    "check": "validate a dataset directory against the contract and summarise it",
    "preview": "draw a contact sheet of items and user histories",
    "train": "pre-train an image encoder (courier, clip, simclr, simsiam, random)",
    "embed": "embed every catalogue item with a trained run",
    "eval": "measure the information gain of embeddings in a CTR model",
    "compare": "train, embed and evaluate every method; write a report",
    "import": "turn a click log or a public data set (H&M, Amazon Reviews 2023) into a dataset directory",
}
_MODULES = {"import": "import_data"}  # `import` is a Python keyword, so its module is named otherwise


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(f"training.commands.{_MODULES.get(name, name)}")
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)
