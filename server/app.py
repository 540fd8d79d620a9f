"""The FastAPI application factory: ``create_app(settings, clock)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from lobbywatch import __version__
from lobbywatch.clock import Clock, SystemClock
from lobbywatch.gc_tuning import settle_heap
from lobbywatch.protocol.ingest import INGEST_PATH
from server.alerts import api as alerts_api
from server.api.errors import BodyLimitMiddleware, install_error_handlers
from server.api.routes import admin, devices, forecast, ingest, live, reports
from server.context import ServerContext
from server.core.config import ServerSettings
from server.web import routes as web_routes

log = logging.getLogger(__name__)

DESCRIPTION = """LobbyWatch central server: gateway ingest, live state, device reports, forecasts.

Authenticate with `Authorization: Bearer <token>`. Roles: **admin**; **manager** (a set of
sites); **vendor** (its own devices, everywhere); **display** (read-only live state of one
site); **gateway** (ingest for one site). Each endpoint states the roles it admits. Every
error is JSON with a `message`.
"""


def create_app(settings: ServerSettings, clock: Clock | None = None, *, settle_gc: bool = False) -> FastAPI:
    """Build the app. State is started (migrations, halls, writer) by the lifespan.

    ``settle_gc`` (the ``server run`` command; not for apps embedded in tests): once started,
    freeze the start-up heap for the garbage collector (:mod:`lobbywatch.gc_tuning`).
    """
    ctx = ServerContext.build(settings, clock or SystemClock())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ctx.start)
        if settle_gc:
            log.info("garbage collector: %d start-up objects frozen", settle_heap())
        try:
            yield
        finally:
            await run_in_threadpool(ctx.stop)

    app = FastAPI(title="LobbyWatch server", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.bus = ctx.bus
    app.state.live = ctx.live
    app.state.db = ctx.db
    app.state.influx = ctx.writer
    app.state.registry = ctx.registry
    app.state.clock = ctx.clock
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_request_bytes,
        overrides={INGEST_PATH: settings.ingest.max_body_bytes},
    )
    for module in (ingest, live, devices, reports, forecast, admin):
        app.include_router(module.router)
    app.include_router(web_routes.router)  # /wall, /staff, alerts API (server/web)
    app.include_router(alerts_api.router)  # alert history, delivery log, silences
    _document_ingest_body(app)
    return app


def _document_ingest_body(app: FastAPI) -> None:
    """The ingest route reads its body itself (size limit, gzip); put its schema in components."""
    from typing import Any

    from fastapi.openapi.utils import get_openapi

    from lobbywatch.protocol.ingest import IngestBatch

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema = IngestBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            components.update(schema.pop("$defs", {}))
            components["IngestBatch"] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
