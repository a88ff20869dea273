"""Request dependencies: the settings and the store made in the app's lifespan.

They are coroutines so that FastAPI calls them on the event loop instead of hopping to a worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sitecheck.settings import Settings
from sitecheck.stores.base import Store


async def get_store(request: Request) -> Store:
    """Return the process's store (one per process, opened in the lifespan)."""
    store: Store = request.app.state.store
    return store


async def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
