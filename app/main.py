"""The FastAPI application factory. It only wires: settings, the store, routers, error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.errors import add_exception_handlers
from app.routers import check_outputs, checks, features, health, layers, onemap, parcels, tiles, web
from sitecheck import __version__
from sitecheck.rules import load_rules
from sitecheck.settings import Settings, get_settings
from sitecheck.stores import open_store


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the store is opened in the lifespan and closed when the app stops."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        app.state.rules = load_rules(settings.rules_config)
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(
        title="sitecheck",
        summary="项目选址合规性审查与按图索地 — site compliance checks and parcel search",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.settings = settings
    add_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(checks.router)
    app.include_router(check_outputs.router)
    app.include_router(parcels.router)
    app.include_router(onemap.router)
    app.include_router(tiles.router)
    app.include_router(features.router)
    app.include_router(web.router)
    return app


app = create_app()
