"""The layer catalogue and layer versions."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.deps import SettingsDep, StoreDep
from app.schemas import LayerList, LayerPublic, LayerVersionList, LayerVersionPublic
from app.security import CallerDep
from layers.publish import load_recorded, rollback_recorded
from sitecheck.catalog import describe_layers
from sitecheck.errors import FormatUnknown, ParameterInvalid
from sitecheck.stores.base import LayerVersion

router = APIRouter(prefix="/v1/layers", tags=["layers"])


@router.get("", response_model=LayerList, operation_id="listLayers")
def list_layers(store: StoreDep, settings: SettingsDep) -> LayerList:
    """List every configured layer with its current version, feature count and extent."""
    return LayerList(
        engine=store.engine,
        crs=settings.analysis_crs,
        layers=[LayerPublic(**layer) for layer in describe_layers(store)],
    )


@router.get("/{layer_key}/versions", response_model=LayerVersionList, operation_id="listLayerVersions")
def list_layer_versions(layer_key: str, store: StoreDep) -> LayerVersionList:
    """List every version of one layer, newest first."""
    versions = store.list_versions(layer_key)
    return LayerVersionList(
        layer=layer_key,
        versions=[_public(version) for version in versions],
    )


class RollbackRequest(BaseModel):
    """Which version to make current again."""

    version: int = Field(ge=1, examples=[3])


_LOAD_SUFFIXES = (".gpkg", ".zip", ".geojson", ".json")
_LOAD_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "GeoPackage, zipped Shapefile or GeoJSON"},
        "crs": {"type": "string", "description": "Source CRS when the file declares none"},
        "encoding": {"type": "string", "description": "Attribute encoding, e.g. GBK"},
    },
}


@router.post(
    "/{layer_key}/versions",
    response_model=LayerVersionPublic,
    status_code=201,
    operation_id="loadLayerVersion",
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _LOAD_SCHEMA}}}},
)
async def load_version(
    layer_key: str, request: Request, store: StoreDep, settings: SettingsDep, caller: CallerDep
) -> Any:
    """Load an uploaded source file as a new version of the layer and publish it (all or nothing)."""
    form = await request.form(max_files=1, max_fields=3)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ParameterInvalid("the form needs a 'file' with the layer source", "表单缺少 file 图层数据文件")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in _LOAD_SUFFIXES:
        raise FormatUnknown(
            f"layer sources are {', '.join(_LOAD_SUFFIXES)} files, not {suffix or 'no extension'}",
            f"图层数据须为 {'、'.join(_LOAD_SUFFIXES)} 文件",
        )
    crs, encoding = form.get("crs"), form.get("encoding")
    with tempfile.TemporaryDirectory(prefix="sitecheck-load-") as folder:
        # Keep the uploaded file's own name: the version records it as its source.
        path = Path(folder) / (Path(upload.filename.replace("\\", "/")).name or f"source{suffix}")
        with path.open("wb") as handle:
            while chunk := await upload.read(1 << 20):
                handle.write(chunk)
        version = await run_in_threadpool(
            load_recorded,
            store,
            layer_key,
            path,
            actor=caller.actor,
            organisation=caller.organisation,
            address=request.client.host if request.client else None,
            crs=crs if isinstance(crs, str) and crs else None,
            encoding=encoding if isinstance(encoding, str) and encoding else None,
            analysis_crs=settings.analysis_crs,
        )
    return _public(version)


@router.post("/{layer_key}/rollback", response_model=LayerVersionPublic, operation_id="rollbackLayer")
def rollback(layer_key: str, body: RollbackRequest, request: Request, store: StoreDep, caller: CallerDep) -> Any:
    """Make an earlier version of the layer current again."""
    version = rollback_recorded(
        store,
        layer_key,
        body.version,
        actor=caller.actor,
        organisation=caller.organisation,
        address=request.client.host if request.client else None,
    )
    return _public(version)


def _public(version: LayerVersion) -> LayerVersionPublic:
    """A version as the API shows it."""
    return LayerVersionPublic(**{k: v for k, v in version.to_dict().items() if k != "layer"})
