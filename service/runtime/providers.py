"""Which onnxruntime execution providers to ask for, and whether a GPU on this machine is going unused.

Pure functions over what onnxruntime offers, what the machine shows and which onnxruntime distributions
are installed, so that the choice is tested without a GPU. The trap they guard against: the CPU and GPU
builds of onnxruntime are two distributions sharing one `onnxruntime` import package, so with both
installed the CPU build can shadow the GPU one and `auto` would quietly serve on CPU next to an idle GPU.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from courier_core.model_repo import ModelError

ProviderChoice = Literal["auto", "cpu", "cuda"]
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

# Distributions that install the `onnxruntime` import package; more than one of them is a broken install.
_RUNTIME_NAME = re.compile(r"onnxruntime(-(gpu|directml|openvino|qnn|rocm|migraphx|cann|training))?")


@dataclass(frozen=True)
class ProviderPlan:
    """The providers to open the session with and what to warn about before serving on them."""

    providers: tuple[str, ...]
    gpu_unused: bool = False
    warnings: tuple[str, ...] = ()


def nvidia_device_visible(env: Mapping[str, str] | None = None, dev: Path = Path("/dev")) -> bool:
    """True when a CUDA program started here would see an NVIDIA GPU.

    CUDA_VISIBLE_DEVICES decides when set (empty or a leading -1 hides every device); otherwise a
    /dev/nvidia<N> node, which the NVIDIA container runtime and device plugin add for each granted GPU.
    """
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        first = visible.split(",")[0].strip()
        return bool(first) and not first.startswith("-")
    return any(re.fullmatch(r"nvidia\d+", path.name) for path in _listdir(dev))


def installed_runtimes(names: Iterable[str] | None = None) -> list[str]:
    """Installed distributions that provide `onnxruntime` (normalised names), sorted."""
    if names is None:
        names = (dist.metadata["Name"] or "" for dist in metadata.distributions())
    normalised = {re.sub(r"[-_.]+", "-", name).lower() for name in names}
    return sorted(name for name in normalised if _RUNTIME_NAME.fullmatch(name))


def plan_providers(
    choice: ProviderChoice,
    available: Sequence[str],
    gpu_visible: bool,
    runtimes: Sequence[str] = (),
) -> ProviderPlan:
    """CUDA (then CPU as onnxruntime's fallback for unsupported nodes) when offered and allowed, else CPU.

    `cuda` without a CUDA provider is a `ModelError` (start-up fails); `auto` falling back to CPU while
    an NVIDIA device is visible is served, but flagged `gpu_unused` with a warning that says how to fix it.
    """
    warnings = []
    if len(runtimes) > 1:
        warnings.append(
            f"several onnxruntime builds are installed ({', '.join(runtimes)}): they overwrite each other's "
            "files; keep one (pip uninstall them all, then install the `cpu` or the `gpu` extra)"
        )
    if choice == "cpu":
        return ProviderPlan((CPU,), warnings=tuple(warnings))
    if CUDA in available:
        return ProviderPlan((CUDA, CPU), warnings=tuple(warnings))
    installed = ", ".join(runtimes) or "no onnxruntime distribution found"
    if choice == "cuda":
        raise ModelError(
            f"provider 'cuda' requested but onnxruntime offers only {list(available)} ({installed}); "
            "install the `gpu` extra without the `cpu` one, or set COURIER_PROVIDERS=auto or cpu"
        )
    if not gpu_visible:
        return ProviderPlan((CPU,), warnings=tuple(warnings))
    warnings.append(
        f"an NVIDIA GPU is visible but onnxruntime offers only {list(available)} ({installed}): "
        "SERVING ON CPU. Install the `gpu` extra without the `cpu` one (pip install '.[serve,gpu]'), "
        "or set COURIER_PROVIDERS=cpu if this is intended"
    )
    return ProviderPlan((CPU,), gpu_unused=True, warnings=tuple(warnings))


def check_session(
    plan: ProviderPlan, choice: ProviderChoice, session_providers: Sequence[str]
) -> ProviderPlan:
    """The plan as the session turned out: onnxruntime drops CUDA with only a log line when its libraries
    (CUDA, cuDNN) or the driver are missing, so a planned CUDA that the session lacks fails `cuda` and
    flags `auto` as `gpu_unused`."""
    if CUDA not in plan.providers or CUDA in session_providers:
        return plan
    message = (
        f"onnxruntime offered CUDA but the session runs on {list(session_providers)}: the CUDA or cuDNN "
        "libraries or the NVIDIA driver are missing or too old (onnxruntime's error is logged above)"
    )
    if choice == "cuda":
        raise ModelError(message)
    return ProviderPlan(tuple(session_providers), gpu_unused=True, warnings=(*plan.warnings, message))


def _listdir(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError:
        return []
