"""The web page at ``/``: one template and the static files it needs, all served by the service itself.

The page's JavaScript calls the public JSON API and holds no business logic; every library, font and icon it
uses is vendored under ``app/web/vendor/<package>@<version>/`` with its licence, so nothing is fetched from
outside the service.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse
from starlette.types import Scope

from app.deps import SettingsDep
from sitecheck import __version__
from sitecheck.projection import parse_crs
from sitecheck.rules import CATEGORY_ZH, LEVEL_ZH, RuleSet

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
VENDOR_DIR = WEB_DIR / "vendor"
STATIC_DIR = WEB_DIR / "static"

# The page may only talk to its own origin; WebGL workers and generated images use blob:/data: URLs.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "worker-src 'self' blob:",
        "child-src 'self' blob:",
        "img-src 'self' data: blob:",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)
# Some Python builds do not know these suffixes; module scripts must be served as JavaScript.
MEDIA_TYPES = {
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

COMPRESSIBLE = {".mjs", ".js", ".css", ".svg"}
MIN_GZIP_BYTES = 1024

_templates = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"]), auto_reload=False
)
_templates.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}


class AssetFiles(StaticFiles):
    """Static files with explicit media types, a cache policy (versioned vendor folders never change) and gzip.

    Scripts and stylesheets are sent gzipped to browsers that accept it (MapLibre's 1.6 MB of JavaScript become
    about 450 kB); each file is compressed once per modification time and kept in memory.
    """

    def __init__(self, *, directory: Path, immutable: bool) -> None:
        """Serve ``directory``; ``immutable`` marks every file as cacheable for a year."""
        super().__init__(directory=directory)
        self.cache_control = "public, max-age=31536000, immutable" if immutable else "no-cache"

    def file_response(
        self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        """The file (gzipped when it is text and the browser accepts gzip) with media type and cache policy."""
        path = Path(full_path)
        request_headers = Headers(scope=scope)
        media_type = MEDIA_TYPES.get(path.suffix.lower())
        gzip_ok = "gzip" in request_headers.get("accept-encoding", "").lower()
        response: Response
        if gzip_ok and path.suffix.lower() in COMPRESSIBLE and stat_result.st_size >= MIN_GZIP_BYTES:
            body, etag = _gzipped(str(path), stat_result.st_mtime_ns)
            headers = {"ETag": etag, "Vary": "Accept-Encoding", "Content-Encoding": "gzip"}
            response = Response(body, status_code=status_code, headers=headers, media_type=media_type)
        else:
            response = super().file_response(full_path, stat_result, scope, status_code)
            if media_type:
                response.headers["Content-Type"] = media_type
        if self.is_not_modified(response.headers, request_headers):
            response = NotModifiedResponse(response.headers)
        response.headers["Cache-Control"] = self.cache_control
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@lru_cache(maxsize=64)
def _gzipped(path: str, mtime_ns: int) -> tuple[bytes, str]:
    """A file's gzipped bytes and their ETag (the cache key includes the modification time)."""
    body = gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '-gz"'


def _vendored(package: str) -> str:
    """The URL folder of a vendored package (``/static/vendor/<package>@<version>``)."""
    folders = sorted(VENDOR_DIR.glob(f"{package}@*"))
    if len(folders) != 1:
        raise RuntimeError(f"expected exactly one vendored {package} in {VENDOR_DIR}, found {len(folders)}")
    return f"/static/vendor/{folders[0].name}"


@lru_cache(maxsize=8)
def _crs_description(analysis_crs: str) -> tuple[str, str]:
    """The analysis CRS's name and PROJ string, for showing cursor coordinates in it."""
    crs = parse_crs(analysis_crs)
    with warnings.catch_warnings():
        # pyproj warns that a PROJ string drops datum details; for a display of coordinates it is enough.
        warnings.simplefilter("ignore", UserWarning)
        return crs.name, crs.to_proj4()


def page_config(analysis_crs: str, rules: RuleSet) -> dict[str, Any]:
    """What the page needs before its first API call: the analysis CRS and the project facts the rules accept."""
    name, proj4 = _crs_description(analysis_crs)
    return {
        "version": __version__,
        "analysis_crs": analysis_crs,
        "analysis_crs_name": name,
        "analysis_crs_proj4": proj4,
        "maplibre": _vendored("maplibre-gl"),
        "levels": [{"key": key, "name_zh": LEVEL_ZH.get(key, key)} for key in rules.levels],
        "categories": [{"key": key, "name_zh": CATEGORY_ZH.get(key, key)} for key in rules.categories],
    }


router = APIRouter(include_in_schema=False)
router.mount("/static/vendor", AssetFiles(directory=VENDOR_DIR, immutable=True), name="vendor")
router.mount("/static", AssetFiles(directory=STATIC_DIR, immutable=False), name="static")


@router.get("/", response_class=HTMLResponse)
def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The page: 选址审查 for planners and 按图索地 for investment officers, on one map (zh-CN first)."""
    rules: RuleSet = request.app.state.rules
    config = page_config(settings.analysis_crs, rules)
    html = _templates.get_template("index.html").render(
        config=config,
        vendor={
            "maplibre": config["maplibre"],
            "proj4": _vendored("proj4"),
            "font": _vendored("noto-sans-sc"),
        },
        version=__version__,
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )
