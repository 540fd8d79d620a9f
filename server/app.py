"""The FastAPI application factory: ``create_app(settings, clock)``.

It builds the :class:`~server.context.ServerContext` (every service of the process), keeps
it on ``app.state.ctx``, starts and stops it with the app's lifespan, and includes every
router of :mod:`server.api.routes` (``/metrics`` among them, timed by
:class:`~server.metrics.MetricsMiddleware`). See docs/server.md.
"""

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
from server.api.errors import BodyLimitMiddleware, install_error_handlers
from server.api.routes import (
    ack_links,
    admin,
    alerts,
    counter,
    devices,
    downlink,
    forecast,
    guide,
    ingest,
    live,
    metrics,
    pages,
    reports,
    visits,
)
from server.context import ServerContext
from server.core.config import ServerSettings
from server.metrics import MetricsMiddleware

log = logging.getLogger(__name__)

ROUTES = (
    ingest,
    downlink,
    live,
    devices,
    reports,
    visits,
    forecast,
    admin,
    pages,
    alerts,
    metrics,
    counter,
    guide,
    ack_links,
)

DESCRIPTION = """LobbyWatch central server: gateway ingest, live state, device reports, forecasts.

Authenticate with `Authorization: Bearer <token>`. Roles: **admin**; **manager** (a set of
sites); **vendor** (its own devices, everywhere); **display** (read-only live state of one
site); **gateway** (ingest and downlink for one site). Each endpoint states the roles it admits. Every
error is JSON with a `message`.
"""


def create_app(settings: ServerSettings, clock: Clock | None = None, *, settle_gc: bool = False) -> FastAPI:
    """Build the app and its context; the lifespan starts the context (migrations, halls,
    writer, alert engine) and stops it.

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
    app.state.ctx = ctx  # the only state: routes read it through server.api.deps.CtxDep
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_request_bytes,
        overrides={INGEST_PATH: settings.ingest.max_body_bytes},
    )
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)  # outermost: times 413s too
    for module in ROUTES:
        app.include_router(module.router)
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
