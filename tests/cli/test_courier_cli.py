"""`courier <command>`: each command runs its part's `python -m` module, with that module's own options."""

from __future__ import annotations

import sys

import pytest

import courier_cli


@pytest.fixture(autouse=True)
def _keep_argv(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))


def test_usage_lists_the_commands(capsys) -> None:
    assert courier_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("serve", "backfill", "export", "demo-model", "train"):
        assert command in out
    assert courier_cli.main([]) == 2


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("serve", "COURIER_MODEL_REPOSITORY"),  # python -m service: its settings, with their defaults
        ("backfill", "--parquet-out"),  # python -m service.backfill
        ("check", "--max-history"),  # python -m training check
        ("export", "--run"),  # python -m model_export
    ],
)
def test_a_command_runs_its_module_with_its_arguments(command, expected, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        courier_cli.main([command, "--help"])
    assert exited.value.code == 0
    assert expected in capsys.readouterr().out


def test_an_unknown_command_fails_with_the_training_commands_named(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        courier_cli.main(["nope"])
    assert exited.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
