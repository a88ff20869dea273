"""JSON answers sent as the domain built them.

The busiest routes (checks, parcel search) return large nested answers that the domain already builds to
the documented models (``check_models``, ``parcel_models``); tests validate real answers against those
models. Re-validating every answer through the response model and encoding it with the standard library
cost more than the search itself, so these routes send the domain's data serialised once with orjson.
The models still document the answers in the OpenAPI description.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from sitecheck.jsontext import dumps_bytes


def as_built(value: Any, media_type: str = "application/json") -> Response:
    """A JSON response of the value as it is (NaN and infinities become null)."""
    return Response(dumps_bytes(value), media_type=media_type)
