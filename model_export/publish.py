"""Atomic writes into the model repository: stage in a temporary directory, rename, then move `latest`.

A failed or interrupted export leaves at most a hidden staging directory (removed by the next export),
never a half-written version directory and never a `latest` pointing at one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from courier_core.model_repo import ModelError, load_model_dir, write_latest

STAGING_PREFIX = ".staging-"
_TRASH_PREFIX = ".replaced-"


def staging_dir(repo: str | Path, name: str, version: str) -> Path:
    """Create a fresh hidden directory beside the versions (same file system, so rename is atomic)."""
    parent = Path(repo) / name
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent)
    path = parent / f"{STAGING_PREFIX}{version}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def remove_stale_staging(parent: Path) -> None:
    """Delete staging directories whose exporting process is gone (a killed export's leftovers)."""
    for path in parent.glob(f"{STAGING_PREFIX}*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(staged: Path, repo: str | Path, name: str, version: str) -> tuple[Path, bool]:
    """Move `staged` to `<repo>/<name>/<version>` and point `latest` at it; returns (dir, reused).

    An existing valid directory of the same version (same weights and settings) is kept as is; an invalid
    one (corrupt, half-copied by hand) is replaced.
    """
    final = Path(repo) / name / version
    reused = False
    if final.exists():
        try:
            load_model_dir(final)
            reused = True
        except ModelError:
            trash = final.with_name(f"{_TRASH_PREFIX}{version}-{os.getpid()}")
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
    if reused:
        shutil.rmtree(staged, ignore_errors=True)
    else:
        os.replace(staged, final)
    load_model_dir(final)
    write_latest(repo, name, version)
    return final, reused
