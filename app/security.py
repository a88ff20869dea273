"""Who may call what: API keys, the route permission table, rate limits and the cap on heavy work.

Every route is authorised by one app-wide dependency that looks the route up in ``ROUTE_PERMISSIONS``: a
route missing from the table is refused (deny by default), and a test checks that every route is listed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.concurrency import run_in_threadpool

from app.permissions import ROUTE_TABLE
from sitecheck.access import PERMISSIONS, PUBLIC_PERMISSIONS, KeyCache, Principal, authenticate
from sitecheck.errors import AuthRequired, CheckNotFound, Forbidden, RateLimited, ServerBusy
from sitecheck.settings import Settings
from sitecheck.stores.base import Store

# (method, route path) -> (permission or None for public, heavy work?)
ROUTE_PERMISSIONS: dict[tuple[str, str], tuple[str | None, bool]] = {
    (method, path): (permission, heavy) for method, path, permission, heavy in ROUTE_TABLE
}
LOCAL_ADMIN = Principal(None, "local-admin", "local", frozenset(PERMISSIONS))


@dataclass
class Guard:
    """Per-process access state: rate limiters and the heavy-work semaphore."""

    settings: Settings
    # The asyncio flavour of limits: its memory storage expires counters in a task on the event loop, where
    # the threaded one starts a timer thread for nearly every hit (~0.5 ms each).
    limiter: SlidingWindowCounterRateLimiter
    per_ip: RateLimitItem
    per_key: RateLimitItem
    keys: KeyCache
    # An asyncio semaphore: requests waiting for a slot must not hold worker threads, or the slot holders
    # could find no thread to run on (thread-pool starvation).
    heavy: asyncio.Semaphore
    work: asyncio.Semaphore

    @classmethod
    def create(cls, settings: Settings) -> Guard:
        """Build the guard from the settings."""
        return cls(
            settings=settings,
            limiter=SlidingWindowCounterRateLimiter(MemoryStorage()),
            per_ip=parse(settings.access.rate_per_ip),
            per_key=parse(settings.access.rate_per_key),
            keys=KeyCache(settings.access.key_cache_seconds),
            heavy=asyncio.Semaphore(settings.access.max_heavy_concurrency),
            work=asyncio.Semaphore(settings.access.max_concurrency),
        )


def _token(request: Request) -> str | None:
    """The presented API key: ``Authorization: Bearer …`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def is_loopback(host: str | None) -> bool:
    """True for addresses on this machine."""
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _principal(request: Request, settings: Settings, store: Store, keys: KeyCache) -> Principal:
    """Resolve the caller: a key, the local administrator (auth off, loopback only), or the public."""
    host = request.client.host if request.client else None
    if not settings.access.auth_enabled:
        if not is_loopback(host):
            raise Forbidden(
                "access control is off, so only this machine may call the service",
                "访问控制已关闭，仅允许本机访问",
            )
        return LOCAL_ADMIN
    token = _token(request)
    if token is not None:
        return authenticate(store, token, keys)
    if settings.access.public_read:
        return Principal(None, "public", None, PUBLIC_PERMISSIONS)
    raise AuthRequired("an API key is required (Authorization: Bearer …)", "需要 API 密钥（Authorization: Bearer …）")


async def _rate_limit(guard: Guard, request: Request, principal: Principal) -> None:
    """Apply the per-key and per-address limits; refuse with the seconds to wait."""
    host = request.client.host if request.client else "unknown"
    checks = [(guard.per_ip, "ip", host)]
    if principal.key_id is not None:
        checks.append((guard.per_key, "key", principal.key_id))
    for limit, kind, identity in checks:
        if not await guard.limiter.hit(limit, kind, identity):
            reset_at, _ = await guard.limiter.get_window_stats(limit, kind, identity)
            wait = max(1, int(reset_at - time.time()) + 1)
            raise RateLimited(
                f"too many requests for this {'key' if kind == 'key' else 'address'}; retry in {wait} s",
                f"请求过于频繁，请 {wait} 秒后重试",
                details={"retry_after": wait, "limit": str(limit)},
            )


def sees_all_organisations(principal: Principal) -> bool:
    """Administrators read every organisation's checks; everyone else only their own."""
    return principal.role in ("admin", LOCAL_ADMIN.role)


def _check_in_scope(store: Store, check_id: str, principal: Principal) -> None:
    """Answer another organisation's check exactly like an unknown one (404), so ids reveal nothing."""
    if sees_all_organisations(principal):
        return
    if store.get_check(check_id).organisation != principal.organisation:
        raise CheckNotFound(f"no check with id {check_id!r}", f"没有编号为 {check_id!r} 的审查记录")


async def authorize(request: Request) -> AsyncIterator[Principal]:
    """App-wide dependency: look the route up, authenticate, check permission, rate-limit, cap heavy work."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    entry = ROUTE_PERMISSIONS.get((request.method, path))
    if entry is None and request.method == "HEAD":
        entry = ROUTE_PERMISSIONS.get(("GET", path))
    if entry is None:
        raise Forbidden(f"{request.method} {path} is not open to anyone", f"{request.method} {path} 未开放")
    permission, heavy = entry
    settings: Settings = request.app.state.settings
    guard: Guard = request.app.state.guard
    store: Store = request.app.state.store
    if permission is None:
        principal = Principal(None, "public", None, PUBLIC_PERMISSIONS)
    else:
        token = _token(request)
        if settings.access.auth_enabled and token is not None and not guard.keys.holds(token):
            principal = await run_in_threadpool(_principal, request, settings, store, guard.keys)
        else:  # nothing to read from the store: no thread hop
            principal = _principal(request, settings, store, guard.keys)
        if permission not in principal.permissions:
            request.state.principal = principal
            raise Forbidden(
                f"the {principal.role} role may not {permission}", f"当前角色（{principal.role}）无权执行 {permission}"
            )
    request.state.principal = principal
    await _rate_limit(guard, request, principal)
    if "check_id" in request.path_params:
        await run_in_threadpool(_check_in_scope, store, str(request.path_params["check_id"]), principal)
    # API work waits its turn in arrival order (asyncio semaphores are fair) instead of many threads sharing
    # the interpreter at once, which would stretch every request; heavy work also takes a heavy slot.
    slots = ([guard.heavy] if heavy else []) + ([guard.work] if permission is not None else [])
    held: list[asyncio.Semaphore] = []
    try:
        for slot in slots:
            if slot.locked():
                await asyncio.wait_for(slot.acquire(), timeout=settings.access.heavy_wait_seconds)
            else:  # a free slot is taken at once, without the timer task wait_for would set up
                await slot.acquire()
            held.append(slot)
    except TimeoutError as exc:
        for slot in reversed(held):
            slot.release()
        raise ServerBusy("the service is busy with other work; retry shortly", "服务繁忙，请稍后重试") from exc
    try:
        yield principal
    finally:
        for slot in reversed(held):
            slot.release()


PrincipalDep = Annotated[Principal, Depends(authorize)]


async def current_principal(request: Request) -> Principal:
    """The principal the app-wide dependency resolved for this request."""
    principal: Principal = request.state.principal
    return principal


CallerDep = Annotated[Principal, Depends(current_principal)]
