"""The micro-batcher with the real fixture engine: batch formation, failures and deadlines as outcomes,
readiness."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from courier_core.errors import ItemCode
from service.runtime.batcher import Batcher
from service.runtime.engine import OnnxEngine
from service.runtime.outcome import Outcome


@pytest.fixture(scope="module")
def engine(onnx_model_repo) -> OnnxEngine:
    engine = OnnxEngine.load(onnx_model_repo.root, name=onnx_model_repo.name, providers="cpu")
    engine.warmup([1, 2, 4, 8])
    return engine


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (count, 32, 32, 3), dtype=np.uint8)


def submit_all(batcher: Batcher, batch: np.ndarray, deadline: float) -> list[asyncio.Future[Outcome]]:
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in batch]
    for image, future in zip(batch, futures, strict=True):
        batcher.submit(image, future, deadline)
    return futures


def test_bucket_padding_does_not_change_vectors(engine, onnx_model_repo) -> None:
    padding = OnnxEngine.load(
        onnx_model_repo.root, name=onnx_model_repo.name, providers="cpu", pad_batches=True
    )
    padding.warmup([1, 2, 4, 8])
    batch = images(5)
    padded = padding.embed(batch)  # padded to the 8 bucket (what CUDA does)
    exact = engine.embed(batch)  # CPU: the exact shape, no padding
    one_by_one = np.concatenate([engine.embed(batch[i : i + 1]) for i in range(5)])
    big = engine.embed(images(19))  # split over the largest bucket
    assert padded.shape == (5, 16) and exact.shape == (5, 16) and big.shape == (19, 16)
    np.testing.assert_allclose(padded, one_by_one, atol=1e-6)
    np.testing.assert_allclose(exact, one_by_one, atol=1e-6)
    assert engine.provider == "CPUExecutionProvider" and engine.dim == 16 and engine.input_size == 32


def test_items_are_batched_up_to_the_size_bound(engine) -> None:
    sizes: list[int] = []

    def embed(batch: np.ndarray) -> np.ndarray:
        sizes.append(len(batch))
        return engine.embed(batch)

    async def run() -> list[Outcome]:
        batcher = Batcher(embed, max_batch_size=4, max_delay_s=0.05)
        batcher.start()
        deadline = time.monotonic() + 5
        futures = submit_all(batcher, np.concatenate([images(4), images(6, seed=1)]), deadline)
        results = await asyncio.gather(*futures)
        await batcher.stop()
        return results

    results = asyncio.run(run())
    assert sizes == [4, 4, 2]
    assert all(outcome.error is None and not outcome.cached for outcome in results)
    expected = engine.embed(np.concatenate([images(4), images(6, seed=1)]))
    np.testing.assert_allclose(np.stack([outcome.vector for outcome in results]), expected, atol=1e-6)


def test_failing_batches_fail_their_items_and_readiness(engine) -> None:
    def broken(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("device lost")

    async def run() -> tuple[list[Outcome], bool, bool]:
        batcher = Batcher(broken, max_batch_size=2, max_delay_s=0.0, unready_after_failures=3)
        batcher.start()
        outcomes = [await submit_all(batcher, images(1), time.monotonic() + 5)[0] for _ in range(3)]
        healthy, alive = batcher.healthy, batcher.alive
        await batcher.stop()
        return outcomes, healthy, alive

    outcomes, healthy, alive = asyncio.run(run())
    assert all(o.vector is None and o.error.code == ItemCode.INFERENCE_ERROR for o in outcomes)
    assert "device lost" in outcomes[0].error.message
    assert alive and not healthy


def test_expired_items_skip_inference(engine) -> None:
    calls: list[int] = []

    async def run() -> Outcome:
        batcher = Batcher(
            lambda b: calls.append(len(b)) or engine.embed(b), max_batch_size=8, max_delay_s=0.05
        )
        batcher.start()
        outcome = await submit_all(batcher, images(1), time.monotonic() + 0.01)[0]
        await batcher.stop()
        return outcome

    assert asyncio.run(run()).error.code == ItemCode.DEADLINE
    assert calls == []
