"""Administration: API keys and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from app.deps import StoreDep
from app.security import CallerDep
from sitecheck.access import PERMISSIONS, ROLES, issue_key, revoke_key

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class KeyCreate(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["规划科工作站"])
    role: str = Field(examples=["planner"], description=f"one of {', '.join(ROLES)}")
    organisation: str = Field(min_length=1, max_length=100, examples=["示例市自然资源和规划局"])
    scopes: list[str] = Field(default_factory=list, description=f"system keys only: some of {', '.join(PERMISSIONS)}")
    expires_at: datetime | None = None


class KeyPublic(BaseModel):
    """A key as listings show it (never the secret)."""

    key_id: str
    name: str
    role: str
    organisation: str
    scopes: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(BaseModel):
    """A new key: the token is shown this once and never again."""

    token: str
    key: KeyPublic


class AuditEventPublic(BaseModel):
    """One audit row."""

    id: int | None
    at: datetime
    actor: str
    organisation: str | None
    action: str
    target: str
    outcome: str
    address: str | None
    details: dict[str, Any]


def _address(request: Request) -> str | None:
    """The caller's address for audit rows."""
    return request.client.host if request.client else None


@router.post("/keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED, operation_id="createKey")
def create_key(body: KeyCreate, request: Request, store: StoreDep, caller: CallerDep) -> Any:
    """Create an API key; the token is in this answer only."""
    token, record = issue_key(
        store,
        name=body.name,
        role=body.role,
        organisation=body.organisation,
        scopes=tuple(body.scopes),
        expires_at=body.expires_at,
        by=caller.actor,
        address=_address(request),
    )
    return {"token": token, "key": record.public()}


@router.get("/keys", response_model=list[KeyPublic], operation_id="listKeys")
def list_keys(store: StoreDep) -> Any:
    """List every key (without secrets), newest first."""
    return [key.public() for key in store.list_keys()]


@router.delete("/keys/{key_id}", response_model=KeyPublic, operation_id="revokeKey")
def revoke(key_id: str, request: Request, store: StoreDep, caller: CallerDep) -> Any:
    """Revoke a key; it stops working at once."""
    revoked = revoke_key(store, key_id, by=caller.actor, address=_address(request))
    request.app.state.guard.keys.forget(key_id)
    return revoked.public()


@router.get("/audit", response_model=list[AuditEventPublic], operation_id="listAuditEvents")
def list_audit(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    action: Annotated[str | None, Query(max_length=50)] = None,
) -> Any:
    """Read the audit trail (admin actions and refused requests), newest first."""
    return [event.to_dict() for event in store.list_events(limit=limit, offset=offset, action=action)]
