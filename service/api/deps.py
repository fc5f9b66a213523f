"""Typed FastAPI dependencies: the process's `ServiceState` and its pipeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.runtime.pipeline import EmbedPipeline
from service.runtime.state import ServiceState


async def get_state(request: Request) -> ServiceState:
    """async (like every dependency here), so FastAPI calls it on the event loop, not in a thread."""
    return request.app.state.courier


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_pipeline(state: StateDep) -> EmbedPipeline:
    """The running pipeline (it exists from start-up to shutdown, i.e. whenever a request is served)."""
    if state.pipeline is None:
        raise RuntimeError("no pipeline: the app's lifespan has not started")
    return state.pipeline


PipelineDep = Annotated[EmbedPipeline, Depends(get_pipeline)]
