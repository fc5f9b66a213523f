"""deploy/docker/lock.py (a script, not a package) loaded as a module for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "lock.py"
_spec = importlib.util.spec_from_file_location("courier_deploy_lock", PATH)
assert _spec is not None and _spec.loader is not None
lock = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = lock  # dataclasses look their module up while the class is built
_spec.loader.exec_module(lock)
