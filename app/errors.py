"""One table from domain errors to HTTP status codes, and the RFC 9457 problem+json handlers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sitecheck import errors

log = logging.getLogger("sitecheck.app")

# Most specific classes first: the first match wins.
STATUS_CODES: list[tuple[type[errors.SitecheckError], int]] = [
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


def problem(status: int, code: str, title: str, detail_en: str, detail_zh: str, **extra: object) -> JSONResponse:
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
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


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
    return problem(status, exc.code, type(exc).__doc__ or exc.code, exc.message_en, exc.message_zh, **extra)


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
