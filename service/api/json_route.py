"""A FastAPI route class that parses JSON bodies with orjson instead of the standard library.

An /embed body is mostly base64 text, and orjson parses it in a fraction of the event-loop time
`json.loads` takes (benchmarks/RESULTS.md, "Service"). Validation, the 422 shape and the OpenAPI schema stay FastAPI's:
orjson's JSONDecodeError subclasses the standard one, which FastAPI turns into its `json_invalid` error.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute


class _ORJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class ORJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            return await handler(_ORJSONRequest(request.scope, request.receive))

        return parse_with_orjson
