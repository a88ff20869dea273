"""Admin actions on layers with their audit trail: a load or a rollback is recorded, done or refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    crs: str | None = None,
    encoding: str | None = None,
    analysis_crs: str,
    progress: ProgressCallback | None = None,
) -> LayerVersion:
    """Load a source as a new published version and audit the outcome (a refusal is audited, then re-raised)."""
    audit = _Audit(store, actor, organisation, address, "layer.load", f"{layer_key}:{path.name}")
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
        audit.record("refused", error.to_dict())
        raise
    audit.record(
        "done",
        {
            "version": version.version,
            "sha256": version.sha256,
            "features": version.feature_count,
            "report": version.report,
        },
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
    audit = _Audit(store, actor, organisation, address, "layer.rollback", f"{layer_key}:v{version}")
    try:
        restored = store.rollback(layer_key, version, by=actor)
    except SitecheckError as error:
        audit.record("refused", error.to_dict())
        raise
    after_publish(store, layer_key)
    audit.record("done", {})
    return restored


class _Audit:
    """One admin action's audit row, written when its outcome is known."""

    def __init__(
        self, store: Store, actor: str, organisation: str | None, address: str | None, action: str, target: str
    ) -> None:
        self.store, self.actor, self.organisation, self.address = store, actor, organisation, address
        self.action, self.target = action, target

    def record(self, outcome: str, details: dict[str, Any]) -> None:
        """Append the row with the outcome."""
        self.store.record_event(
            AuditEvent(
                at=utc_now(),
                actor=self.actor,
                action=self.action,
                target=self.target,
                outcome=outcome,
                organisation=self.organisation,
                address=self.address,
                details=details,
            )
        )
