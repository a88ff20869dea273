"""The FastAPI application factory. It only wires: settings, the store, access control, routers, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from app.docs import add_docs, use_secured_openapi
from app.errors import add_exception_handlers
from app.routers import admin, check_outputs, checks, features, health, layers, onemap, parcels, tiles, web
from app.security import Guard, authorize
from sitecheck import __version__
from sitecheck.rules import load_rules
from sitecheck.settings import Settings, get_settings
from sitecheck.stores import open_store
from sitecheck.warmup import warm_up


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the store is opened in the lifespan and closed when the app stops."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        app.state.rules = load_rules(settings.rules_config)
        await run_in_threadpool(warm_up, app.state.store, app.state.rules)
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(
        title="sitecheck",
        summary="项目选址合规性审查与按图索地 — site compliance checks and parcel search",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(authorize)],
    )
    use_secured_openapi(app)
    app.state.settings = settings
    app.state.guard = Guard.create(settings)
    add_exception_handlers(app)
    if settings.access.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.access.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    for module in (health, layers, checks, check_outputs, parcels, onemap, tiles, features, admin, web):
        app.include_router(module.router)
    if settings.access.docs_enabled:
        add_docs(app)
    return app


app = create_app()
