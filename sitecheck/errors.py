"""Domain errors: every refusal the product can give, each with a stable code.

The HTTP layer maps these classes to status codes in one table (``app/errors.py``); the domain never
speaks HTTP. Messages come in English and Chinese; geometry faults carry a location.
"""

from __future__ import annotations

from typing import Any


class SitecheckError(Exception):
    """Base of every error the product reports to a user."""

    code = "SITECHECK_ERROR"

    def __init__(
        self,
        message_en: str,
        message_zh: str | None = None,
        *,
        location: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh or message_en
        self.location = location
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """Return the error as plain data (code, messages, location, details)."""
        out: dict[str, Any] = {"code": self.code, "message_en": self.message_en, "message_zh": self.message_zh}
        if self.location is not None:
            out["location"] = self.location
        if self.details:
            out["details"] = self.details
        return out


# --- bad input ---------------------------------------------------------------------------------------


class InputError(SitecheckError):
    """The caller sent something we cannot use."""

    code = "INPUT_INVALID"


class ParameterInvalid(InputError):
    """A request parameter has a value outside what is accepted."""

    code = "PARAM_INVALID"


class FormatUnknown(InputError):
    """The upload's format could not be recognised or is not supported."""

    code = "FORMAT_UNKNOWN"


class FormatInvalid(InputError):
    """The upload claims a known format but cannot be parsed; the location says where."""

    code = "FORMAT_INVALID"


class TxtMalformed(FormatInvalid):
    """A line of a Ministry coordinate TXT (部标) file is malformed; the location names the line."""

    code = "TXT_MALFORMED"


class EncodingUnknown(InputError):
    """The text encoding of an upload or its attributes could not be determined."""

    code = "ENCODING_UNKNOWN"


class UploadTooLarge(InputError):
    """The upload exceeds a size limit (bytes, vertices, zip expansion)."""

    code = "UPLOAD_TOO_LARGE"


class ZipUnsafe(InputError):
    """A zip archive is unsafe to open: too many entries, a bomb ratio, or a path escaping the archive."""

    code = "ZIP_UNSAFE"


class JsonTooDeep(InputError):
    """A JSON document nests deeper than allowed."""

    code = "JSON_TOO_DEEP"


class CrsUnknown(InputError):
    """The coordinate reference system of the input could not be determined or is not recognised."""

    code = "CRS_UNKNOWN"


class CrsOutOfRange(InputError):
    """Coordinates transform to non-finite values or to a place outside China."""

    code = "CRS_OUT_OF_RANGE"


class GeometryError(InputError):
    """Base for faults in the geometry itself."""

    code = "GEOM_ERROR"


class GeometryInvalid(GeometryError):
    """The geometry is not valid (self-intersection, bad ring, ...); the location says where (GEOS reason)."""

    code = "GEOM_INVALID"


class GeometryEmpty(GeometryError):
    """The input holds no geometry."""

    code = "GEOM_EMPTY"


class GeometryZeroArea(GeometryError):
    """The polygon encloses no area."""

    code = "GEOM_ZERO_AREA"


class GeometryNonFinite(GeometryError):
    """A coordinate is NaN or infinite."""

    code = "GEOM_NON_FINITE"


class GeometryNotPolygonal(GeometryError):
    """A site must be a Polygon or MultiPolygon; points and lines are refused."""

    code = "GEOM_NOT_POLYGONAL"


class GeometryTooManyVertices(GeometryError):
    """The geometry has more vertices than the configured limit."""

    code = "GEOM_TOO_MANY_VERTICES"


# --- access ------------------------------------------------------------------------------------------


class AccessError(SitecheckError):
    """Base for refusals about who is asking."""

    code = "ACCESS_DENIED"


class AuthRequired(AccessError):
    """No valid API key was presented (missing, unknown, expired or revoked)."""

    code = "AUTH_REQUIRED"


class Forbidden(AccessError):
    """The key is valid but its role or scopes do not allow this."""

    code = "FORBIDDEN"


class RateLimited(AccessError):
    """Too many requests from this key or address; retry after the time given."""

    code = "RATE_LIMITED"


class ServerBusy(SitecheckError):
    """Too much heavy work is running; retry shortly instead of queueing."""

    code = "SERVER_BUSY"


# --- things that do not exist ------------------------------------------------------------------------


class NotFound(SitecheckError):
    """A named thing does not exist."""

    code = "NOT_FOUND"


class LayerNotFound(NotFound):
    """No layer with that key is configured."""

    code = "LAYER_NOT_FOUND"


class VersionNotFound(NotFound):
    """The layer has no version with that number (or none in force at that date)."""

    code = "VERSION_NOT_FOUND"


class CheckNotFound(NotFound):
    """No stored check has that id."""

    code = "CHECK_NOT_FOUND"


class ParcelNotFound(NotFound):
    """No parcel has that id in the current parcel layer."""

    code = "PARCEL_NOT_FOUND"


# --- loading layers ----------------------------------------------------------------------------------


class LayerLoadError(SitecheckError):
    """A layer load was refused; nothing was published and the served version is unchanged."""

    code = "LAYER_LOAD_FAILED"


class LayerSourceUnreadable(LayerLoadError):
    """The layer source file cannot be opened or read."""

    code = "LAYER_SOURCE_UNREADABLE"


class LayerCrsMissing(LayerLoadError):
    """The layer source declares no CRS and none was given with the load."""

    code = "LAYER_CRS_MISSING"


class LayerCrsInvalid(LayerLoadError):
    """The layer's declared CRS contradicts the file's, or its coordinates land outside China."""

    code = "LAYER_CRS_INVALID"


class LayerGeometryType(LayerLoadError):
    """The layer source holds geometries of a type the layer's role does not allow."""

    code = "LAYER_GEOMETRY_TYPE"


class LayerFieldMissing(LayerLoadError):
    """A field named in the layer configuration is missing from the source."""

    code = "LAYER_FIELD_MISSING"


class LayerEmpty(LayerLoadError):
    """After validation the new version would hold no features."""

    code = "LAYER_EMPTY"


class LayerValidationFailed(LayerLoadError):
    """The written version failed its post-write checks (count or extent)."""

    code = "LAYER_VALIDATION_FAILED"


# --- configuration and infrastructure ----------------------------------------------------------------


class ConfigInvalid(SitecheckError):
    """The layer or rule configuration is invalid; the message names the file and the entry."""

    code = "CONFIG_INVALID"


class StoreUnavailable(SitecheckError):
    """The database is unreachable or dropped the connection; the request may be retried."""

    code = "STORE_UNAVAILABLE"
