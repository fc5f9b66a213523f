"""FastAPI app factory: parts are built in the lifespan, warm-up runs in the background until /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import metrics
from service.admission import Admission
from service.batcher import Batcher
from service.cache import describe_version, make_cache
from service.decoding import DecodeLimits, DecodePool
from service.engine import OnnxEngine
from service.fetch import Fetcher, FetchPolicy
from service.middleware import CourierMiddleware
from service.pipeline import EmbedPipeline
from service.responses import ORJSONResponse, error_response
from service.routes import embed, health, lookup
from service.routes import metrics as metrics_route
from service.settings import Settings
from service.state import ServiceState

log = logging.getLogger("service")

_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def create_app(settings: Settings) -> FastAPI:
    state = ServiceState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await asyncio.to_thread(
            OnnxEngine.load,
            settings.model_repository,
            name=settings.model_name,
            version=settings.model_version,
            providers=settings.providers,
            intra_op_threads=settings.onnx_intra_op_threads,
            inter_op_threads=settings.inter_op_threads,
        )
        manifest = engine.manifest
        decode_pool = DecodePool(
            settings.decode_pool_workers,
            DecodeLimits(engine.input_size, settings.max_image_pixels, settings.max_image_bytes),
        )
        metrics.MODEL_INFO.labels(manifest.name, manifest.version, str(manifest.dim), engine.provider).set(1)
        cache = make_cache(settings)
        await cache.start()
        await cache.set_version_info(manifest.version, describe_version(manifest))
        fetcher = Fetcher(
            FetchPolicy(
                allow_hosts=settings.fetch_allow_hosts,
                allow_http=settings.fetch_allow_http,
                connect_timeout_s=settings.fetch_connect_timeout_s,
                total_timeout_s=settings.fetch_timeout_s,
                max_redirects=settings.fetch_max_redirects,
                max_bytes=settings.max_image_bytes,
            )
        )
        batcher = Batcher(
            engine.embed,
            max_batch_size=settings.max_batch_size,
            max_delay_s=settings.max_batch_delay_ms / 1000,
            unready_after_failures=settings.unready_after_failed_batches,
        )
        batcher.start()
        admission = Admission(settings.max_queue_items)
        state.engine, state.cache, state.batcher, state.admission = engine, cache, batcher, admission
        state.pipeline = EmbedPipeline(settings, engine, cache, batcher, admission, fetcher, decode_pool)
        warmup = asyncio.create_task(_warm_up(state, decode_pool))
        try:
            yield
        finally:
            await _drain(state)
            warmup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await warmup
            await state.pipeline.drain()
            await batcher.stop()
            await fetcher.close()
            await cache.close()
            decode_pool.shutdown()
            metrics.READY.set(0)
            log.info("shut down cleanly")

    app = FastAPI(
        title="Courier embedding service",
        summary="Image embeddings for CTR rankers: POST /embed, cached look-ups, health and metrics.",
        version="1",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
    )
    app.state.courier = state
    for router in (embed.router, lookup.router, health.router, metrics_route.router):
        app.include_router(router)
    app.add_middleware(CourierMiddleware, state=state)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        response = error_response(
            exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> ORJSONResponse:
        errors = exc.errors()
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5]]
        response = error_response(422, "invalid_request", "; ".join(parts) or "invalid request body")
        return response

    return app


async def _warm_up(state: ServiceState, decode_pool: DecodePool) -> None:
    """Start the decode workers and run every bucket shape once before /readyz turns ready."""
    started = time.perf_counter()
    buckets = state.settings.buckets
    try:
        await asyncio.gather(asyncio.to_thread(state.engine.warmup, buckets), decode_pool.start())
    except Exception:
        log.exception("warm-up failed; the service stays not ready")
        return
    state.warmed_up = True
    log.info(
        "warmed up buckets %s and %d decode workers in %.2fs on %s; ready",
        buckets,
        decode_pool.workers,
        time.perf_counter() - started,
        state.engine.provider,
    )
    _ = state.ready


async def _drain(state: ServiceState) -> None:
    """Refuse new work, then wait (bounded) for in-flight requests."""
    state.draining = True
    deadline = time.monotonic() + state.settings.drain_timeout_s
    while state.active_requests > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
