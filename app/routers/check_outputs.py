"""Routes for check_outputs (being built; see the issue that owns it)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/checks", tags=["checks"])
