"""What every format reader hands to the intake pipeline: geometry in the source's own coordinates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class IntakeWarning:
    """Something the planner should know about the upload that did not stop it (swapped axes, repairs, ...)."""

    code: str
    message_en: str
    message_zh: str
    location: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the warning as plain data."""
        out: dict[str, Any] = {"code": self.code, "message_en": self.message_en, "message_zh": self.message_zh}
        if self.location is not None:
            out["location"] = self.location
        return out


@dataclass
class RawSite:
    """A reader's result before CRS handling and validation.

    ``geometry`` is in the source's coordinates, axis order as read (lon/lat or easting/northing, unless the
    reader knows better); ``crs`` is what the file itself declares (an ``EPSG:nnnn`` string) or None.
    ``meta`` carries format facts (TXT header fields, parcel names, declared areas) for the result.
    """

    geometry: BaseGeometry
    source_format: str
    crs: str | None = None
    warnings: list[IntakeWarning] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
