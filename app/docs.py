"""The OpenAPI document and its pages, served as ordinary (authorised) routes with local assets."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from app.check_models import CheckRequest

SWAGGER = "/static/vendor/swagger-ui-dist@5.35.0"
# Request bodies that routes read themselves (JSON or multipart on one path) and document via openapi_extra.
BODY_MODELS: tuple[type[BaseModel], ...] = (CheckRequest,)


def openapi_with_security(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, declaring the bearer API key every protected route expects."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        components["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "sck_<key_id>_<secret>"}
        }
        schema["security"] = [{"apiKey": []}]
        for model in BODY_MODELS:
            _add_component(components.setdefault("schemas", {}), model)
        _drop_string_beside_ref(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _add_component(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    """Add a model read from a raw body (so FastAPI does not list it) to the document's components."""
    body = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas[model.__name__] = body


def _drop_string_beside_ref(node: Any) -> None:
    """Routes with a custom media type get FastAPI's default {"type": "string"} merged beside the model's $ref,
    which no response can satisfy; the $ref is what the route returns."""
    if isinstance(node, dict):
        if "$ref" in node and node.get("type") == "string":
            del node["type"]
        for value in node.values():
            _drop_string_beside_ref(value)
    elif isinstance(node, list):
        for value in node:
            _drop_string_beside_ref(value)


def use_secured_openapi(app: FastAPI) -> None:
    """Make app.openapi() return the document with the security scheme."""
    app.openapi = lambda: openapi_with_security(app)  # type: ignore[method-assign]


def add_docs(app: FastAPI) -> None:
    """Add /openapi.json and /docs (both need the docs:read permission)."""

    @app.get("/openapi.json", include_in_schema=False)
    def get_openapi() -> JSONResponse:
        """The OpenAPI document."""
        return JSONResponse(openapi_with_security(app))

    @app.get("/docs", include_in_schema=False)
    def get_docs() -> HTMLResponse:
        """The interactive API pages (Swagger UI, served locally)."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="sitecheck API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )
