"""The `Engine` interface (warm up, embed, describe the model) and its onnxruntime implementation.

Shared by the online service and the backfill job, so that both produce the same vectors from the same
file. On CUDA the engine pads every batch to a warmed-up bucket size, so no request ever pays for a new
shape (cuDNN plans per shape). The CPU provider does not re-plan per shape, so there padding would only
spend the model on zeros: a batch of 10 padded to 16 computes 60% more images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort

from courier_core.manifest import Manifest
from courier_core.model_repo import ModelDir, ModelError, check_io, load_model_dir
from service.runtime.providers import (
    CUDA,
    ProviderChoice,
    ProviderPlan,
    check_session,
    installed_runtimes,
    nvidia_device_visible,
    plan_providers,
)

log = logging.getLogger(__name__)


def choose_providers(choice: ProviderChoice = "auto") -> ProviderPlan:
    """The plan of `service.runtime.providers` for this machine, logged; CUDA DLLs preloaded when CUDA is chosen."""
    runtimes = installed_runtimes()
    available = ort.get_available_providers()
    log.info("onnxruntime %s (%s) offers %s", ort.__version__, ", ".join(runtimes) or "?", available)
    plan = plan_providers(choice, available, nvidia_device_visible(), runtimes)
    for warning in plan.warnings:
        log.warning("%s", warning)
    preload = getattr(ort, "preload_dlls", None)
    if CUDA in plan.providers and preload is not None:
        try:
            preload()
        except Exception as exc:  # a missing optional DLL must not hide onnxruntime's own clearer error
            log.warning("onnxruntime.preload_dlls() failed: %s", exc)
    return plan


def bucket_for(n: int, buckets: Sequence[int]) -> int:
    """Smallest bucket holding n items (buckets sorted ascending; n <= max bucket)."""
    for size in buckets:
        if size >= n:
            return size
    raise ValueError(f"{n} items exceed the largest bucket {buckets[-1]}")


class Engine(Protocol):
    """What the pipeline and the backfill need from a model: its identity, its input side and `embed`.

    `embed` must be thread-safe: the batcher calls it from its worker thread.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def created_at(self) -> str:
        """When the model version was exported (ISO 8601), for `courier:meta:{version}`."""

    @property
    def input_size(self) -> int: ...

    @property
    def provider(self) -> str: ...

    @property
    def gpu_unused(self) -> bool:
        """True when an NVIDIA GPU is visible but the model runs on the CPU (a packaging mistake)."""

    def warmup(self, buckets: Sequence[int]) -> None:
        """Run every batch shape once, before readiness."""

    def embed(self, images: np.ndarray) -> np.ndarray:
        """uint8 `[N, S, S, 3]` RGB → float32 `[N, D]`, L2-normalised."""


class OnnxEngine:
    """A loaded, checked model (an `Engine`). `embed` is thread-safe (onnxruntime sessions are)."""

    def __init__(
        self,
        session: ort.InferenceSession,
        model_dir: ModelDir,
        *,
        pad_batches: bool | None = None,
        gpu_unused: bool = False,
    ) -> None:
        self._session = session
        self.gpu_unused = gpu_unused
        self._model_dir = model_dir
        self._buckets: tuple[int, ...] = ()
        manifest = model_dir.manifest
        self._input_name = manifest.input_name
        self._output_name = manifest.output_name
        self._provider = session.get_providers()[0]
        self._use_binding = self._provider == CUDA
        self._pad = self._provider == CUDA if pad_batches is None else pad_batches

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        name: str | None = None,
        version: str | None = None,
        providers: ProviderChoice = "auto",
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        allow_spinning: bool = False,
        pad_batches: bool | None = None,
    ) -> OnnxEngine:
        """Resolve `<repo>[/name[/version]]` (following `latest`), check sha256 and graph I/O, open a session.

        `allow_spinning=False` stops onnxruntime's idle intra-op threads from busy-waiting between runs: on a
        small CPU they would burn the cores decoding needs; turn it on for a latency-bound model on
        dedicated cores. `pad_batches` None pads to the
        buckets on CUDA only (see the module docstring).
        Raises `ModelError` with a message naming the file when anything does not match the manifest.
        """
        checked = load_model_dir(model_dir, name, version)
        plan = choose_providers(providers)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        try:
            session = ort.InferenceSession(
                str(checked.onnx_path), sess_options=options, providers=list(plan.providers)
            )
        except Exception as exc:
            raise ModelError(f"onnxruntime cannot load {checked.onnx_path}: {exc}") from None
        check_io(checked.manifest, session.get_inputs(), session.get_outputs())
        used = check_session(plan, providers, session.get_providers())
        if used is not plan:
            log.warning("%s", used.warnings[-1])
        engine = cls(session, checked, pad_batches=pad_batches, gpu_unused=used.gpu_unused)
        log.info(
            "loaded model %s version %s (dim %d, input %dx%d) on %s",
            engine.manifest.name,
            engine.manifest.version,
            engine.dim,
            engine.input_size,
            engine.input_size,
            session.get_providers(),
        )
        return engine

    @property
    def manifest(self) -> Manifest:
        return self._model_dir.manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def provider(self) -> str:
        """The execution provider actually in use, e.g. CUDAExecutionProvider."""
        return self._provider

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def created_at(self) -> str:
        return self.manifest.created_at

    @property
    def input_size(self) -> int:
        return self.manifest.input_size

    @property
    def version(self) -> str:
        return self.manifest.version

    def warmup(self, buckets: Sequence[int]) -> None:
        """Run every bucket shape once, so the first real batch of each shape is not slow.

        After warm-up `embed` splits batches larger than the biggest bucket and, on CUDA, pads each
        batch to the smallest bucket that holds it.
        """
        sizes = tuple(sorted({int(b) for b in buckets}))
        if not sizes or sizes[0] < 1:
            raise ValueError(f"buckets must be positive integers, got {list(buckets)}")
        side = self.input_size
        for size in sizes:
            self._run(np.zeros((size, side, side, 3), dtype=np.uint8))
        self._buckets = sizes

    def embed(self, images: np.ndarray) -> np.ndarray:
        """uint8 `[N, H, W, 3]` RGB (already decoded/resized) → float32 `[N, D]`, L2-normalised."""
        side = self.input_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (side, side, 3):
            raise ValueError(f"expected uint8[N, {side}, {side}, 3], got {images.dtype}{list(images.shape)}")
        count = images.shape[0]
        if count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not self._buckets:
            return self._run(images)
        largest = self._buckets[-1]
        parts = []
        for start in range(0, count, largest):
            chunk = images[start : start + largest]
            bucket = bucket_for(len(chunk), self._buckets) if self._pad else len(chunk)
            if bucket != len(chunk):
                padded = np.zeros((bucket, side, side, 3), dtype=np.uint8)
                padded[: len(chunk)] = chunk
                chunk = padded
            parts.append(self._run(chunk)[: min(largest, count - start)])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images)
        if self._use_binding:
            binding = self._session.io_binding()
            binding.bind_cpu_input(self._input_name, images)
            binding.bind_output(self._output_name, "cuda")
            self._session.run_with_iobinding(binding)
            out = binding.copy_outputs_to_cpu()[0]
        else:
            out = self._session.run([self._output_name], {self._input_name: images})[0]
        return np.asarray(out, dtype=np.float32)
