"""Access control: API keys (stored hashed), roles and per-key scopes, and the audit trail of admin actions.

A key looks like ``sck_<key_id>_<secret>``: the key id is public (shown in listings and audit rows), the
secret is shown once at creation and only its SHA-256 is stored. Roles grant permissions; a ``system`` key
carries only the permissions listed in its scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sitecheck.errors import AuthRequired, NotFound, ParameterInvalid
from sitecheck.timeutil import utc_now

ROLES = ("planner", "investment", "admin", "system")
PERMISSIONS = (
    "checks:create",  # run a check
    "checks:read",  # read the organisation's checks and their outputs
    "parcels:read",  # parcel search, detail, suggestions
    "layers:read",  # catalogue, tiles, one map, OGC API Features
    "layers:write",  # load and roll back layer versions
    "keys:manage",  # create, list and revoke keys
    "audit:read",  # read the audit trail
    "docs:read",  # the OpenAPI document and its pages
)
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "planner": frozenset({"checks:create", "checks:read", "layers:read", "docs:read"}),
    "investment": frozenset({"parcels:read", "layers:read", "docs:read"}),
    "admin": frozenset(PERMISSIONS),
    "system": frozenset(),
}
PUBLIC_PERMISSIONS = frozenset({"layers:read"})
_PREFIX = "sck"


@dataclass(frozen=True)
class ApiKey:
    """A stored key: identity, role, organisation, scopes, lifetime. The secret is never kept."""

    key_id: str
    name: str
    role: str
    organisation: str
    scopes: tuple[str, ...]
    secret_sha256: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def permissions(self) -> frozenset[str]:
        """What this key may do: its role's permissions, or for a system key exactly its scopes."""
        return frozenset(self.scopes) if self.role == "system" else ROLE_PERMISSIONS[self.role]

    def public(self) -> dict[str, Any]:
        """The key as listings show it (no hash)."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role,
            "organisation": self.organisation,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class AuditEvent:
    """An admin action or a refused request, recorded append-only."""

    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    organisation: str | None = None
    address: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready data."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "organisation": self.organisation,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "address": self.address,
            "details": self.details,
        }


@dataclass(frozen=True)
class Principal:
    """Who is asking: a key's identity and permissions, or the public."""

    key_id: str | None
    role: str
    organisation: str | None
    permissions: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> str:
        """How audit rows name this principal."""
        return f"key:{self.key_id}" if self.key_id else self.role


def hash_secret(token: str) -> str:
    """SHA-256 of a whole key (keys are 256-bit random: a slow hash would add nothing)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def make_key(
    *,
    name: str,
    role: str,
    organisation: str,
    scopes: tuple[str, ...],
    created_by: str,
    created_at: datetime,
    expires_at: datetime | None,
) -> tuple[str, ApiKey]:
    """Make a new key: return the token (shown once) and the record to store."""
    if role not in ROLES:
        raise ParameterInvalid(f"role {role!r} is not one of {list(ROLES)}", f"角色 {role!r} 无效")
    unknown = sorted(set(scopes) - set(PERMISSIONS))
    if unknown:
        raise ParameterInvalid(f"unknown scopes {unknown}; known: {list(PERMISSIONS)}", f"未知权限范围 {unknown}")
    if role == "system" and not scopes:
        raise ParameterInvalid("a system key needs at least one scope", "system 角色的密钥必须指定权限范围")
    if not organisation.strip():
        raise ParameterInvalid("a key needs an organisation", "密钥必须属于一个单位")
    key_id = secrets.token_hex(6)
    token = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        key_id=key_id,
        name=name,
        role=role,
        organisation=organisation.strip(),
        scopes=tuple(sorted(set(scopes))) if role == "system" else (),
        secret_sha256=hash_secret(token),
        created_at=created_at,
        created_by=created_by,
        expires_at=expires_at,
    )
    return token, record


def key_id_of(token: str) -> str:
    """Read the public key id out of a token, or refuse a token of the wrong shape."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1]:
        raise AuthRequired("the API key is malformed", "API 密钥格式错误")
    return parts[1]


def verify(token: str, record: ApiKey | None, now: datetime) -> Principal:
    """Check a token against its stored record: known, matching, not expired, not revoked."""
    if record is None or not hmac.compare_digest(record.secret_sha256, hash_secret(token)):
        raise AuthRequired("the API key is not valid", "API 密钥无效")
    if record.revoked_at is not None:
        raise AuthRequired("the API key has been revoked", "API 密钥已被吊销")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthRequired("the API key has expired", "API 密钥已过期")
    return Principal(record.key_id, record.role, record.organisation, record.permissions())


def issue_key(
    store: KeyStore,
    *,
    name: str,
    role: str,
    organisation: str,
    scopes: tuple[str, ...] = (),
    expires_at: datetime | None = None,
    by: str,
    address: str | None = None,
) -> tuple[str, ApiKey]:
    """Create and store a key, audit it, and return the token (shown once) with its record."""
    now = utc_now()
    if expires_at is not None and expires_at <= now:
        raise ParameterInvalid("expires_at is in the past", "过期时间早于当前时间")
    token, record = make_key(
        name=name,
        role=role,
        organisation=organisation,
        scopes=scopes,
        created_by=by,
        created_at=now,
        expires_at=expires_at,
    )
    store.save_key(record)
    store.record_event(
        AuditEvent(
            at=now,
            actor=by,
            action="key.create",
            target=record.key_id,
            outcome="done",
            organisation=record.organisation,
            address=address,
            details={"role": role, "name": name, "scopes": list(record.scopes)},
        )
    )
    return token, record


def revoke_key(store: KeyStore, key_id: str, *, by: str, address: str | None = None) -> ApiKey:
    """Revoke a key and audit it; an unknown key id is refused."""
    record = store.revoke_key(key_id, utc_now())
    if record is None:
        raise NotFound(f"no API key {key_id!r}", f"没有编号为 {key_id!r} 的密钥")
    store.record_event(
        AuditEvent(
            at=utc_now(),
            actor=by,
            action="key.revoke",
            target=key_id,
            outcome="done",
            organisation=record.organisation,
            address=address,
        )
    )
    return record


class KeyCache:
    """Keys read recently, so that a client's every request does not read its key again.

    An entry is trusted for ``seconds``: a key revoked through this process is forgotten at once; one revoked
    elsewhere (another worker, the command line) stops working here within ``seconds`` (docs/access.md).
    Expiry and the secret are checked on every request. Unknown key ids are never cached.
    """

    def __init__(self, seconds: float, size: int = 4096) -> None:
        """Trust entries for ``seconds`` (0 turns the cache off); hold at most ``size`` keys."""
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[str, tuple[ApiKey, float]] = OrderedDict()
        self._lock = threading.Lock()

    def fresh(self, key_id: str) -> ApiKey | None:
        """The cached key if it was read less than ``seconds`` ago."""
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None or time.monotonic() - entry[1] >= self.seconds:
                return None
            return entry[0]

    def holds(self, token: str) -> bool:
        """True when a token's key is cached and fresh (a malformed token is not)."""
        try:
            return self.fresh(key_id_of(token)) is not None
        except AuthRequired:
            return False

    def remember(self, key: ApiKey) -> None:
        """Cache a key just read from the store."""
        if self.seconds <= 0:
            return
        with self._lock:
            self._entries[key.key_id] = (key, time.monotonic())
            self._entries.move_to_end(key.key_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        """Drop a key (after revoking it)."""
        with self._lock:
            self._entries.pop(key_id, None)


def authenticate(store: KeyStore, token: str, cache: KeyCache | None = None) -> Principal:
    """Resolve a presented token to its principal, or refuse it (reading the key through the cache if given)."""
    key_id = key_id_of(token)
    record = cache.fresh(key_id) if cache is not None else None
    if record is None:
        record = store.get_key(key_id)
        if record is not None and cache is not None:
            cache.remember(record)
    return verify(token, record, utc_now())


class KeyStore(Protocol):
    """The part of a store that access control uses."""

    def save_key(self, key: ApiKey) -> None: ...
    def get_key(self, key_id: str) -> ApiKey | None: ...
    def revoke_key(self, key_id: str, at: datetime) -> ApiKey | None: ...
    def record_event(self, event: AuditEvent) -> None: ...
