"""One table from domain errors to HTTP status codes, and the RFC 9457 problem+json handlers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sitecheck import errors
from sitecheck.access import AuditEvent
from sitecheck.timeutil import utc_now

log = logging.getLogger("sitecheck.app")

# Most specific classes first: the first match wins.
STATUS_CODES: list[tuple[type[errors.SitecheckError], int]] = [
    (errors.AuthRequired, 401),
    (errors.Forbidden, 403),
    (errors.RateLimited, 429),
    (errors.ServerBusy, 503),
    (errors.UploadTooLarge, 413),
    (errors.GeometryTooManyVertices, 413),
    (errors.FormatUnknown, 415),
    (errors.NotFound, 404),
    (errors.InputError, 422),
    (errors.LayerLoadError, 422),
    (errors.StoreUnavailable, 503),
    (errors.ConfigInvalid, 500),
]
RETRY_AFTER_SECONDS = "2"


def status_for(error: errors.SitecheckError) -> int:
    """Return the HTTP status of a domain error."""
    for cls, status in STATUS_CODES:
        if isinstance(error, cls):
            return status
    return 500


def problem(
    status: int,
    code: str,
    title: str,
    detail_en: str,
    detail_zh: str,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    """Build an RFC 9457 problem+json response with our stable code and both languages."""
    body = {
        "type": f"https://sitecheck.dev/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail_en,
        "detail_zh": detail_zh,
        **extra,
    }
    headers = dict(headers or {})
    if status == 503:
        headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers or None)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer a domain error with its status and code; never a stack trace."""
    assert isinstance(exc, errors.SitecheckError)
    status = status_for(exc)
    if status >= 500:
        log.error("%s on %s %s: %s", exc.code, request.method, request.url.path, exc.message_en)
    extra: dict[str, object] = {}
    if exc.location is not None:
        extra["location"] = exc.location
    if exc.details:
        extra["details"] = exc.details
    headers: dict[str, str] = {}
    if isinstance(exc, errors.AccessError):
        await run_in_threadpool(_record_refusal, request, exc)
        if isinstance(exc, errors.AuthRequired):
            headers["WWW-Authenticate"] = 'Bearer realm="sitecheck"'
        if isinstance(exc, errors.RateLimited):
            headers["Retry-After"] = str(exc.details.get("retry_after", 1))
    title = type(exc).__doc__ or exc.code
    return problem(status, exc.code, title, exc.message_en, exc.message_zh, headers=headers, **extra)


def _record_refusal(request: Request, error: errors.AccessError) -> None:
    """Audit a refused request (best effort: an unreachable store must not turn a 401 into a 500)."""
    store = getattr(request.app.state, "store", None)
    if store is None:
        return
    principal = getattr(request.state, "principal", None)
    route = request.scope.get("route")
    try:
        store.record_event(
            AuditEvent(
                at=utc_now(),
                actor=principal.actor if principal is not None else "anonymous",
                action="request.refused",
                target=f"{request.method} {getattr(route, 'path', request.url.path)}",
                outcome=error.code,
                organisation=principal.organisation if principal is not None else None,
                address=request.client.host if request.client else None,
                details={"path": request.url.path},
            )
        )
    except errors.SitecheckError as failure:
        log.warning("could not audit a refused request: %s", failure.message_en)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer request validation errors as PARAM_INVALID problems naming each bad field."""
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"]} for error in exc.errors()
    ]
    where = "; ".join(f"{f['location']}: {f['message']}" for f in fields)
    return problem(
        422, "PARAM_INVALID", "Request parameters are invalid", where, f"请求参数有误：{where}", errors=fields
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer anything unforeseen with a bare 500 that leaks nothing; the log keeps the trace."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "INTERNAL_ERROR", "Internal error", "internal error", "服务内部错误")


def add_exception_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on an app."""
    app.add_exception_handler(errors.SitecheckError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
