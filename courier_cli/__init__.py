"""`courier <command> [args]`: one entry point for every part's command line.

It imports none of the parts: each command runs its part's `python -m` module by name, so `courier serve`
loads no torch and `courier train` no web stack, and the layering (nothing imports `service`) holds.
`courier <command> --help` shows that command's own options.
"""

from __future__ import annotations

import runpy
import sys

# command → (module run as __main__, what it does); any other command is a `python -m training` command
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("service", "serve a model over HTTP (settings from COURIER_* variables)"),
    "backfill": ("service.backfill", "embed a catalogue into the cache for one model version"),
    "export": ("model_export", "export a training run to the versioned ONNX model repository"),
    "demo-model": ("model_export.demo", "build the small demo model that `make serve` serves"),
}
TRAINING = "training"


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: courier <command> [args]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "and every `python -m training` command (world, check, train, embed, eval, compare, ...)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command = args[0]
    if command in COMMANDS:
        module, sys.argv = COMMANDS[command][0], [f"courier {command}", *args[1:]]
    else:
        module, sys.argv = TRAINING, ["courier", *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)  # its sys.exit() ends the process
    return 0
