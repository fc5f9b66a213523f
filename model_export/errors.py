"""Export's error types, importable without torch (the CLI reports them)."""

from __future__ import annotations


class ExportError(RuntimeError):
    """The export or one of its checks failed; nothing was published."""


class ParityError(ExportError):
    """The exported graph disagrees with the torch encoder."""
