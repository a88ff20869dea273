"""Layer configuration: which layers a deployment has, their roles, sources and field mappings (TOML)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sitecheck.errors import ConfigInvalid, LayerNotFound

Role = Literal["constraint", "zone", "parcels", "reference", "raster"]
GeometryKind = Literal["polygon", "line", "point", "any"]

ROLES: tuple[str, ...] = ("constraint", "zone", "parcels", "reference", "raster")
GEOMETRY_KINDS: tuple[str, ...] = ("polygon", "line", "point", "any")
CANONICAL_FIELDS: tuple[str, ...] = ("id", "name", "kind")
_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class LayerConfig:
    """One configured layer: identity, role, source and how its fields map to canonical ones."""

    key: str
    name_zh: str
    name_en: str
    role: Role
    geometry: GeometryKind
    source: Path | None
    fields: dict[str, str] = field(default_factory=dict)
    report: tuple[str, ...] = ()
    color: str = "#555555"
    subdivide: bool = False
    units: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_vector(self) -> bool:
        """True for every role except raster."""
        return self.role != "raster"

    def source_field(self, canonical: str) -> str | None:
        """Return the source field mapped to a canonical name (id, name, kind, ...), or None."""
        return self.fields.get(canonical)


@dataclass(frozen=True)
class LayerCatalog:
    """All layers of a deployment, in configuration order."""

    layers: tuple[LayerConfig, ...]
    path: Path

    def get(self, key: str) -> LayerConfig:
        """Return the layer with this key or raise LayerNotFound."""
        for layer in self.layers:
            if layer.key == key:
                return layer
        known = ", ".join(layer.key for layer in self.layers)
        raise LayerNotFound(f"no layer '{key}' is configured (known: {known})", f"未配置图层“{key}”（已配置：{known}）")

    def keys(self) -> list[str]:
        """Return the layer keys in configuration order."""
        return [layer.key for layer in self.layers]

    def vector_layers(self) -> list[LayerConfig]:
        """Return the vector layers (everything but rasters)."""
        return [layer for layer in self.layers if layer.is_vector]

    def by_role(self, *roles: str) -> list[LayerConfig]:
        """Return the layers whose role is one of ``roles``."""
        return [layer for layer in self.layers if layer.role in roles]


def load_catalog(path: Path) -> LayerCatalog:
    """Read and validate a layer configuration file; errors name the file and the entry."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigInvalid(f"layer configuration {path} does not exist", f"图层配置文件 {path} 不存在") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(f"{path}: {exc}", f"{path}：TOML 格式错误：{exc}") from exc
    entries = raw.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ConfigInvalid(f"{path}: no [[layers]] entries", f"{path}：没有 [[layers]] 条目")
    layers = tuple(_parse_layer(entry, index, path) for index, entry in enumerate(entries, start=1))
    keys = [layer.key for layer in layers]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ConfigInvalid(f"{path}: duplicate layer keys {duplicates}", f"{path}：图层键重复 {duplicates}")
    return LayerCatalog(layers=layers, path=path)


def _parse_layer(entry: Any, index: int, path: Path) -> LayerConfig:
    """Turn one [[layers]] table into a LayerConfig, refusing unknown roles, kinds and keys."""
    where = f"{path}: layer #{index}"
    if not isinstance(entry, dict):
        raise ConfigInvalid(f"{where} is not a table", f"{where} 不是表")
    data = dict(entry)
    key = data.pop("key", None)
    if not isinstance(key, str) or not _KEY_PATTERN.match(key):
        raise ConfigInvalid(
            f"{where}: key {key!r} must be lower-case letters, digits and _ (max 40)",
            f"{where}：key {key!r} 只能由小写字母、数字和下划线组成（最长 40）",
        )
    where = f"{path}: layer '{key}'"
    role = data.pop("role", None)
    if role not in ROLES:
        raise ConfigInvalid(f"{where}: role {role!r} is not one of {ROLES}", f"{where}：role {role!r} 无效")
    default_geometry = "any" if role == "raster" else "polygon"
    geometry = data.pop("geometry", default_geometry)
    if geometry not in GEOMETRY_KINDS:
        raise ConfigInvalid(
            f"{where}: geometry {geometry!r} is not one of {GEOMETRY_KINDS}", f"{where}：geometry {geometry!r} 无效"
        )
    if role in ("constraint", "zone", "parcels") and geometry != "polygon":
        raise ConfigInvalid(f"{where}: a {role} layer must be polygonal", f"{where}：{role} 图层必须是面图层")
    fields = data.pop("fields", {})
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise ConfigInvalid(f"{where}: fields must map names to source fields", f"{where}：fields 必须是字段映射")
    if role != "raster" and "id" not in fields:
        raise ConfigInvalid(f"{where}: fields.id is required", f"{where}：必须配置 fields.id")
    report = data.pop("report", [])
    if not isinstance(report, list) or not all(isinstance(v, str) for v in report):
        raise ConfigInvalid(f"{where}: report must be a list of field names", f"{where}：report 必须是字段名列表")
    source = data.pop("source", None)
    return LayerConfig(
        key=key,
        name_zh=str(data.pop("name_zh", key)),
        name_en=str(data.pop("name_en", key)),
        role=role,
        geometry=geometry,
        source=(path.parent / source).resolve() if isinstance(source, str) else None,
        fields=dict(fields),
        report=tuple(report),
        color=str(data.pop("color", "#555555")),
        subdivide=bool(data.pop("subdivide", False)),
        units=data.pop("units", None),
        extra=data,
    )
