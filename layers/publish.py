"""Admin actions on layers with their audit trail: a load or a rollback is recorded, done or refused."""

from __future__ import annotations

from pathlib import Path

from layers.load import ProgressCallback, load_layer
from sitecheck.access import AuditEvent
from sitecheck.errors import SitecheckError
from sitecheck.events import after_publish
from sitecheck.stores.base import LayerVersion, Store
from sitecheck.timeutil import utc_now


def load_recorded(
    store: Store,
    layer_key: str,
    path: Path,
    *,
    actor: str,
    organisation: str | None = None,
    address: str | None = None,
    source_name: str | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    analysis_crs: str,
    progress: ProgressCallback | None = None,
) -> LayerVersion:
    """Load a source as a new published version and audit the outcome (a refusal is audited, then re-raised)."""
    target = f"{layer_key}:{source_name or path.name}"
    try:
        version = load_layer(
            store,
            layer_key,
            path,
            crs=crs,
            encoding=encoding,
            loaded_by=actor,
            analysis_crs=analysis_crs,
            progress=progress,
        )
    except SitecheckError as error:
        store.record_event(
            AuditEvent(
                at=utc_now(),
                actor=actor,
                action="layer.load",
                target=target,
                outcome="refused",
                organisation=organisation,
                address=address,
                details=error.to_dict(),
            )
        )
        raise
    store.record_event(
        AuditEvent(
            at=utc_now(),
            actor=actor,
            action="layer.load",
            target=target,
            outcome="done",
            organisation=organisation,
            address=address,
            details={
                "version": version.version,
                "sha256": version.sha256,
                "features": version.feature_count,
                "report": version.report,
            },
        )
    )
    return version


def rollback_recorded(
    store: Store,
    layer_key: str,
    version: int,
    *,
    actor: str,
    organisation: str | None = None,
    address: str | None = None,
) -> LayerVersion:
    """Make an earlier version current again, bring derived data up to date, and audit it."""
    try:
        restored = store.rollback(layer_key, version, by=actor)
    except SitecheckError as error:
        store.record_event(
            AuditEvent(
                at=utc_now(),
                actor=actor,
                action="layer.rollback",
                target=f"{layer_key}:v{version}",
                outcome="refused",
                organisation=organisation,
                address=address,
                details=error.to_dict(),
            )
        )
        raise
    after_publish(store, layer_key)
    store.record_event(
        AuditEvent(
            at=utc_now(),
            actor=actor,
            action="layer.rollback",
            target=f"{layer_key}:v{version}",
            outcome="done",
            organisation=organisation,
            address=address,
        )
    )
    return restored
