"""The compliance check (合规性审查): a site against every constraint and zone layer, stored for audit."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sitecheck.areas import area_figures
from sitecheck.errors import InputError, ParameterInvalid, SitecheckError, VersionNotFound
from sitecheck.findings import SiteFacts, layer_findings, polygonal_part
from sitecheck.intake import Site, read_site, read_site_geometry
from sitecheck.rules import STATUS_ZH, VERDICT_ZH, ProjectFacts, RuleSet, overall_verdict
from sitecheck.settings import IntakeLimits
from sitecheck.slope import load_raster, slope_statistics
from sitecheck.stores.base import CheckRecord, LayerVersion, Store
from sitecheck.timeutil import utc_now

CHECKED_ROLES = ("constraint", "zone")
CONTEXT_ROLES = ("reference", "parcels")


@dataclass(frozen=True)
class CheckOptions:
    """How to run a check: against which versions, and what to include in the answer."""

    as_of: datetime | None = None
    include_geometry: bool = False
    pinned_versions: dict[str, int] | None = None


def new_check_id() -> str:
    """Return a fresh check id."""
    return "chk_" + uuid.uuid4().hex[:20]


def check_site(
    store: Store,
    site: Site,
    facts: ProjectFacts,
    rules: RuleSet,
    *,
    options: CheckOptions = CheckOptions(),
    created_by: str = "anonymous",
    organisation: str | None = None,
    rerun_of: str | None = None,
) -> dict[str, Any]:
    """Check a validated site, store the record, and return the result (JSON-ready)."""
    result = evaluate_site(store, site, facts, rules, options=options, rerun_of=rerun_of)
    store.save_check(
        CheckRecord(
            id=result["check_id"],
            created_at=datetime.fromisoformat(result["created_at"]),
            created_by=created_by,
            accepted=True,
            input_sha256=site.input_sha256,
            geometry_sha256=site.geometry_sha256,
            geometry_wkb=shapely.to_wkb(site.geometry),
            parameters=_parameters(site, facts, options),
            layer_versions=result["layer_versions"],
            rule_set=rules.to_dict(),
            result=result,
            error=None,
            rerun_of=rerun_of,
            organisation=organisation,
        )
    )
    return result


def evaluate_site(
    store: Store,
    site: Site,
    facts: ProjectFacts,
    rules: RuleSet,
    *,
    options: CheckOptions = CheckOptions(),
    rerun_of: str | None = None,
) -> dict[str, Any]:
    """Work out a check's result without storing it (check_site stores it)."""
    started = time.perf_counter()
    facts = rules.check_facts(facts)
    checked_keys = [layer.key for layer in store.catalog.by_role(*CHECKED_ROLES)]
    context_keys = [layer.key for layer in store.catalog.by_role(*CONTEXT_ROLES) if layer.geometry == "polygon"]
    if options.pinned_versions is None and options.as_of is None:
        versions, pieces = store.overlaps_current(site.geometry, checked_keys + context_keys)
    else:
        versions = _versions(store, options)
        pieces = store.overlaps(
            site.geometry, {key: versions[key] for key in checked_keys + context_keys if key in versions}
        )
    missing = [key for key in checked_keys if key not in versions]
    if missing:
        when = f" at {options.as_of.isoformat()}" if options.as_of else ""
        raise VersionNotFound(
            f"no published version{when} of layers {missing}: the check cannot be complete",
            f"图层 {missing} 在该时点没有发布版本，无法完成审查",
            details={"layers": missing},
        )
    checked = {key: versions[key] for key in checked_keys}
    context_versions = {key: versions[key] for key in context_keys if key in versions}
    site_facts = SiteFacts(site.geometry, site.geometry.area, site.analysis_crs)
    findings = layer_findings(
        [
            (store.catalog.get(key), version.version, rules.rule_for(store.catalog.get(key)), pieces[key])
            for key, version in checked.items()
        ],
        site_facts,
        facts,
        rules.thresholds,
        include_geometry=options.include_geometry,
    )
    raster_findings, raster_versions = _raster_findings(store, site, rules)
    findings.extend(raster_findings)
    verdict = overall_verdict([f["status"] for f in findings])
    layer_versions = {key: _version_ref(v) for key, v in checked.items()} | raster_versions
    check_id = new_check_id()
    created_at = utc_now()
    result: dict[str, Any] = {
        "check_id": check_id,
        "created_at": created_at.isoformat(),
        "engine": store.engine,
        "verdict": verdict,
        "verdict_zh": VERDICT_ZH[verdict],
        "project": facts.to_dict(),
        "site": _site_block(site, options.include_geometry),
        "layers": findings,
        "context": _context(store, pieces, context_versions, site_facts),
        "warnings": [w.to_dict() for w in site.warnings],
        "thresholds": rules.thresholds.to_dict(),
        "layer_versions": layer_versions,
        "rule_set": rules.to_dict(),
        "as_of": options.as_of.isoformat() if options.as_of else None,
        "rerun_of": rerun_of,
    }
    result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def submit_check(
    store: Store,
    rules: RuleSet,
    *,
    upload: bytes | None = None,
    body_site: dict[str, Any] | str | None = None,
    filename: str | None = None,
    fmt: str | None = None,
    crs: str | None = None,
    zone: int | None = None,
    repair: bool = False,
    encoding: str | None = None,
    facts: ProjectFacts,
    options: CheckOptions = CheckOptions(),
    analysis_crs: str,
    limits: IntakeLimits,
    created_by: str,
    organisation: str | None = None,
) -> dict[str, Any]:
    """Read an upload (file bytes or a JSON body's geometry), check it, and store the record.

    A refused upload is stored too (with its error) before the error goes back to the caller.
    """
    parameters = {
        "project": facts.to_dict(),
        "filename": filename,
        "format": fmt,
        "crs": crs,
        "zone": zone,
        "repair": repair,
        "as_of": options.as_of.isoformat() if options.as_of else None,
    }
    try:
        if upload is not None:
            site = read_site(
                upload,
                filename=filename,
                fmt=fmt,
                crs=crs,
                zone=zone,
                repair=repair,
                analysis_crs=analysis_crs,
                limits=limits,
                encoding=encoding,
            )
        elif body_site is not None:
            site = read_site_geometry(
                body_site, crs=crs, zone=zone, repair=repair, analysis_crs=analysis_crs, limits=limits
            )
        else:
            raise ParameterInvalid("no site given: send a file or a 'site' geometry", "未提供项目用地范围")
        rules.check_facts(facts)
    except InputError as error:
        error.details["check_id"] = record_refusal(
            store,
            error,
            input_sha256=_input_hash(upload, body_site),
            parameters=parameters,
            created_by=created_by,
            organisation=organisation,
        )
        raise
    return check_site(store, site, facts, rules, options=options, created_by=created_by, organisation=organisation)


def _input_hash(upload: bytes | None, body_site: dict[str, Any] | str | None) -> str | None:
    """Hash what a refused request sent (the site is not available to take its own hash from)."""
    if upload is not None:
        return hashlib.sha256(upload).hexdigest()
    if body_site is None:
        return None
    text = body_site if isinstance(body_site, str) else json.dumps(body_site, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def record_refusal(
    store: Store,
    error: SitecheckError,
    *,
    input_sha256: str | None,
    parameters: dict[str, Any],
    created_by: str,
    organisation: str | None = None,
) -> str:
    """Store a refused check (bad input) so that the audit trail holds it too; return its id."""
    check_id = new_check_id()
    store.save_check(
        CheckRecord(
            id=check_id,
            created_at=utc_now(),
            created_by=created_by,
            accepted=False,
            input_sha256=input_sha256,
            geometry_sha256=None,
            geometry_wkb=None,
            parameters=parameters,
            layer_versions={},
            rule_set={},
            result=None,
            error=error.to_dict(),
            organisation=organisation,
        )
    )
    return check_id


def stored_site(record: CheckRecord, analysis_crs: str) -> Site:
    """Rebuild the validated site of a stored check (its normalised geometry in the analysis CRS)."""
    if not record.accepted or record.geometry_wkb is None:
        raise ParameterInvalid(
            f"check {record.id} was refused and cannot be re-run", f"审查 {record.id} 未受理，无法重新运行"
        )
    geometry = shapely.from_wkb(record.geometry_wkb)
    parameters = record.parameters
    return Site(
        geometry=geometry,
        source_format="stored",
        source_crs=analysis_crs,
        analysis_crs=analysis_crs,
        input_sha256=record.input_sha256 or "",
        geometry_sha256=record.geometry_sha256 or "",
        vertex_count=int(shapely.get_num_coordinates(geometry)),
        part_count=int(shapely.get_num_geometries(geometry)),
        warnings=[],
        repair=parameters.get("repair_report"),
        meta={},
    )


def rerun_check(
    store: Store,
    check_id: str,
    rules: RuleSet,
    *,
    analysis_crs: str,
    created_by: str,
    organisation: str | None = None,
) -> dict[str, Any]:
    """Re-run a stored check against exactly the layer versions it used."""
    record = store.get_check(check_id)
    site = stored_site(record, analysis_crs)
    facts = ProjectFacts(**record.parameters["project"])
    pinned = {key: int(ref["version"]) for key, ref in record.layer_versions.items() if "version" in ref}
    options = CheckOptions(
        include_geometry=bool(record.parameters.get("include_geometry", False)), pinned_versions=pinned
    )
    return check_site(
        store, site, facts, rules, options=options, created_by=created_by, organisation=organisation, rerun_of=check_id
    )


def _versions(store: Store, options: CheckOptions) -> dict[str, LayerVersion]:
    """Pick the layer versions to check against: pinned, as of a date, or current."""
    if options.pinned_versions is not None:
        chosen = {}
        for key, number in options.pinned_versions.items():
            if key not in set(store.catalog.keys()) or not store.catalog.get(key).is_vector:
                continue
            match = [v for v in store.list_versions(key) if v.version == number]
            if not match:
                raise VersionNotFound(f"layer '{key}' has no version {number}", f"图层“{key}”没有版本 {number}")
            chosen[key] = match[0]
        current = store.current_versions()
        return chosen | {k: v for k, v in current.items() if k not in chosen and k not in _checked_keys(store)}
    if options.as_of is not None:
        return store.versions_as_of(options.as_of)
    return store.current_versions()


def _checked_keys(store: Store) -> set[str]:
    """Keys of the layers that decide the verdict."""
    return {layer.key for layer in store.catalog.by_role(*CHECKED_ROLES)}


def _version_ref(version: LayerVersion) -> dict[str, Any]:
    """How a check records the version it used."""
    return {"version": version.version, "sha256": version.sha256, "source_name": version.source_name}


def _raster_findings(store: Store, site: Site, rules: RuleSet) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Slope statistics for each configured raster layer, with the slope rule applied."""
    findings, versions = [], {}
    for layer in store.catalog.by_role("raster"):
        if layer.source is None:
            continue
        raster = load_raster(Path(layer.source))
        versions[layer.key] = raster.version()
        rule = rules.rule_for(layer)
        thresholds = rules.thresholds
        stats = slope_statistics(raster, site.geometry, thresholds.slope_degrees)
        values: dict[str, Any] = {
            "slope_degrees": f"{thresholds.slope_degrees:g}",
            "review_share_pct": f"{thresholds.slope_review_share:.0%}",
        }
        if stats is None:
            status, key = "not_applicable", "not_applicable"
        else:
            values |= {
                "steep_share_pct": f"{stats['steep_share']:.1%}",
                "mean_deg": f"{stats['mean_deg']:.1f}",
                "max_deg": f"{stats['max_deg']:.1f}",
            }
            status = "review" if stats["steep_share"] > thresholds.slope_review_share else "pass"
            key = status
        reason_zh, reason_en = rule.message(key, values) if rule else ("", "")
        findings.append(
            {
                "layer": layer.key,
                "name_zh": layer.name_zh,
                "name_en": layer.name_en,
                "role": layer.role,
                "version": versions[layer.key]["sha256"][:12],
                "status": status,
                "status_zh": STATUS_ZH[status],
                "slope": stats,
                "rule": {
                    "id": rule.id if rule else None,
                    "exception": None,
                    "reason_zh": reason_zh,
                    "reason_en": reason_en,
                    "policy": list(rule.policy) if rule else [],
                },
            }
        )
    return findings, versions


def _site_block(site: Site, include_geometry: bool) -> dict[str, Any]:
    """The site's figures: areas, extent, vertices, where it came from."""
    block: dict[str, Any] = area_figures(site.geometry, site.analysis_crs) | {
        "bbox": [round(v, 3) for v in site.geometry.bounds],
        "vertex_count": site.vertex_count,
        "part_count": site.part_count,
        "source_format": site.source_format,
        "source_crs": site.source_crs,
        "analysis_crs": site.analysis_crs,
        "input_sha256": site.input_sha256,
        "geometry_sha256": site.geometry_sha256,
        "repair": site.repair,
        "meta": site.meta,
    }
    if include_geometry:
        block["geometry"] = mapping(site.geometry)
    return block


def _context(
    store: Store, pieces: dict[str, list[Any]], versions: dict[str, LayerVersion], site: SiteFacts
) -> list[dict[str, Any]]:
    """Reference features under the site (districts, parcels): ids, names and shares, no verdict."""
    context = []
    for key, version in versions.items():
        layer = store.catalog.get(key)
        features = []
        for piece in pieces.get(key, []):
            geometry: BaseGeometry | None = polygonal_part(piece.geometry)
            if geometry is None:
                continue
            features.append(
                {"id": piece.feature_id, "name": piece.name, "kind": piece.kind, "share": geometry.area / site.area_m2}
            )
        context.append({"layer": key, "name_zh": layer.name_zh, "version": version.version, "features": features})
    return context


def _parameters(site: Site, facts: ProjectFacts, options: CheckOptions) -> dict[str, Any]:
    """The parameters a check records for audit and re-runs."""
    return {
        "project": facts.to_dict(),
        "source_format": site.source_format,
        "source_crs": site.source_crs,
        "as_of": options.as_of.isoformat() if options.as_of else None,
        "include_geometry": options.include_geometry,
        "repair_report": site.repair,
    }
