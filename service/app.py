"""The app factory, where the API meets the runtime: the engine is loaded and the pipeline built in the
lifespan, warm-up runs in the background until /readyz turns ready, and shutdown drains first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from service import metrics
from service.api.errors import install_error_handlers
from service.api.middleware import CourierMiddleware
from service.api.routes import embed, health, lookup
from service.api.routes import metrics as metrics_route
from service.runtime.engine import Engine, OnnxEngine
from service.runtime.pipeline import EmbedPipeline, build_pipeline
from service.runtime.state import ServiceState
from service.settings import Settings

log = logging.getLogger("service")

EngineFactory = Callable[[Settings], Engine]


def load_onnx_engine(settings: Settings) -> OnnxEngine:
    """The model `settings` name, checked against its manifest (raises `ModelError` naming the file)."""
    return OnnxEngine.load(
        settings.model_repository,
        name=settings.model_name,
        version=settings.model_version,
        providers=settings.providers,
        intra_op_threads=settings.onnx_intra_op_threads,
        inter_op_threads=settings.inter_op_threads,
    )


def create_app(settings: Settings, engine_factory: EngineFactory = load_onnx_engine) -> FastAPI:
    """The service for `settings`; `engine_factory` builds the engine at start-up (tests pass a fake)."""
    state = ServiceState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await asyncio.to_thread(engine_factory, settings)
        metrics.MODEL_INFO.labels(
            engine.name, engine.version, str(engine.dim), engine.provider, str(engine.gpu_unused).lower()
        ).set(1)
        pipeline = build_pipeline(settings, engine)
        await pipeline.start()
        state.pipeline = pipeline
        metrics.READY.set_function(lambda: float(state.ready()))
        warmup = asyncio.create_task(_warm_up(pipeline))
        try:
            yield
        finally:
            state.begin_drain()
            await state.wait_idle(settings.drain_timeout_s)
            warmup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warmup
            await pipeline.close()
            state.pipeline = None
            log.info("shut down cleanly")

    app = FastAPIOffline(  # /docs and /redoc from assets in the package: they work offline, no CDN
        static_url="/docs/static",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the public validator
        title="Courier embedding service",
        summary="Image embeddings for CTR rankers: POST /embed, cached look-ups, health and metrics.",
        version="1",
        lifespan=lifespan,
    )
    app.state.courier = state
    for router in (embed.router, lookup.router, health.router, metrics_route.router):
        app.include_router(router)
    app.add_middleware(CourierMiddleware, state=state)
    install_error_handlers(app)
    return app


async def _warm_up(pipeline: EmbedPipeline) -> None:
    try:
        await pipeline.warm_up()
    except Exception:
        log.exception("warm-up failed; the service stays not ready")
