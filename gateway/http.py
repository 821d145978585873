"""The HTTP side served on the gateway's event loop: /metrics, /healthz, and the review UI when present."""
from __future__ import annotations

from typing import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.health import Banner, HealthMonitor
from gateway.metrics import Metrics


def create_app(metrics: Metrics, extra_routes: Sequence[BaseRoute] = (), *,
               health: HealthMonitor) -> Starlette:
    async def metrics_endpoint(request: Request) -> Response:
        await health.check()  # the health gauges are as fresh as the scrape
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def healthz(request: Request) -> Response:
        # 200 ok | 200 degraded (evaluation mode, docs/health.md) | 503 naming each failing part
        report = await health.check()
        return JSONResponse(report.as_dict(), status_code=report.http_status,
                            headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/metrics", metrics_endpoint), Route("/healthz", healthz), *extra_routes],
                     middleware=[Middleware(BannerState, banner=Banner(health))])


class BannerState:
    """Puts the evaluation-mode banner in each request's state, where the review UI's
    base.html reads it (`request.state.schoolgate_banner`): the UI needs no gateway import."""

    def __init__(self, app: ASGIApp, banner: Banner) -> None:
        self.app = app
        self.banner = banner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["schoolgate_banner"] = self.banner
        await self.app(scope, receive, send)
