"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import StoreDep
from app.schemas import Health
from sitecheck import __version__

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, operation_id="getHealth")
def get_health(store: StoreDep) -> Health:
    """Answer that the service is up, and which engine it runs on."""
    return Health(status="ok", engine=store.engine, version=__version__)
