"""The layer catalogue and layer versions."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SettingsDep, StoreDep
from app.schemas import LayerList, LayerPublic, LayerVersionList, LayerVersionPublic
from sitecheck.catalog import describe_layers

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
        versions=[LayerVersionPublic(**{k: v for k, v in ver.to_dict().items() if k != "layer"}) for ver in versions],
    )
