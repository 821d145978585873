"""The HTTP side served on the gateway's event loop: /metrics, /healthz, and the review UI when present."""
from __future__ import annotations

from typing import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.metrics import Metrics


def create_app(metrics: Metrics, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(routes=[Route("/metrics", metrics_endpoint), Route("/healthz", health), *extra_routes])
