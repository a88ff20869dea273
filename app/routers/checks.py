"""Compliance checks: submit (JSON or file upload), read back, re-run."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.check_models import CheckRecordOut, CheckRequest, CheckResult, ProjectIn
from app.deps import SettingsDep, StoreDep
from app.responses import as_built
from app.security import CallerDep
from sitecheck.access import Principal
from sitecheck.check import CheckOptions, rerun_check, submit_check
from sitecheck.errors import FormatUnknown, ParameterInvalid, UploadTooLarge
from sitecheck.intake.geojson import check_json_text
from sitecheck.rules import ProjectFacts, RuleSet
from sitecheck.settings import Settings
from sitecheck.stores.base import Store

router = APIRouter(prefix="/v1/checks", tags=["checks"])

# Dates without a time mean "the end of that day" in China Standard Time, where the bureaus work.
CHINA_TIME = timezone(timedelta(hours=8))


async def get_rules(request: Request) -> RuleSet:
    """Return the rule set loaded in the lifespan."""
    rules: RuleSet = request.app.state.rules
    return rules


RulesDep = Annotated[RuleSet, Depends(get_rules)]


class UploadForm(BaseModel):
    """Form fields that accompany an uploaded file."""

    model_config = ConfigDict(extra="forbid")

    format: str | None = Field(default=None, description="geojson, wkt, txt, shapefile, kml, kmz, dxf")
    crs: str | None = None
    zone: int | None = Field(default=None, ge=13, le=45)
    encoding: str | None = Field(default=None, max_length=20)
    repair: bool = False
    name: str = Field(default="", max_length=200)
    level: str = "municipal"
    category: str = "industrial"
    land_use_code: str | None = Field(default=None, max_length=12)
    as_of: datetime | date | None = None
    include_geometry: bool = False


_UPLOAD_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "Site boundary file"},
        **{name: {"type": "string"} for name in UploadForm.model_fields},
    },
}


def _as_of(value: datetime | date | None) -> datetime | None:
    """Turn a date into the end of that day (China time); give naive datetimes China time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=CHINA_TIME)
    return datetime.combine(value, time.max, tzinfo=CHINA_TIME)


def _too_large(limit: int) -> UploadTooLarge:
    """The error for a body over the size limit."""
    return UploadTooLarge(
        f"the upload exceeds {limit} bytes", f"上传内容超过 {limit} 字节上限", details={"limit_bytes": limit}
    )


@router.post(
    "",
    response_model=CheckResult,
    operation_id="createCheck",
    summary="Check a site against the control layers (合规性审查)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}},
                "multipart/form-data": {"schema": _UPLOAD_SCHEMA},
            },
        }
    },
)
async def create_check(request: Request) -> Any:
    """Check a site sent as JSON (GeoJSON or WKT) or as an uploaded file (TXT, Shapefile zip, KML/KMZ, DXF, ...)."""
    # The busiest route reads the lifespan's objects directly rather than through four dependencies.
    state = request.app.state
    store: Store = state.store
    settings: Settings = state.settings
    rules: RuleSet = state.rules
    caller: Principal = request.state.principal
    limits = settings.intake
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes + 64 * 1024:
        raise _too_large(limits.max_upload_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=len(UploadForm.model_fields) + 1)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ParameterInvalid("the form needs a 'file' field with the site file", "表单缺少 file 文件字段")
        data = await upload.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            raise _too_large(limits.max_upload_bytes)
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str) and v != ""}
        try:
            params = UploadForm.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc
        facts = ProjectFacts(params.name, params.level, params.category, params.land_use_code)
        options = CheckOptions(as_of=_as_of(params.as_of), include_geometry=params.include_geometry)
        intake: dict[str, Any] = {
            "upload": data,
            "filename": upload.filename,
            "fmt": params.format,
            "crs": params.crs,
            "zone": params.zone,
            "repair": params.repair,
            "encoding": params.encoding,
        }
        return await _submit(store, rules, settings, caller, intake, facts, options)
    if content_type not in ("application/json", ""):
        raise FormatUnknown(
            f"send application/json or multipart/form-data, not {content_type}",
            f"请以 application/json 或 multipart/form-data 提交，而非 {content_type}",
        )
    body = await request.body()
    if len(body) > limits.max_upload_bytes:
        raise _too_large(limits.max_upload_bytes)
    check_json_text(
        body.decode("utf-8", "replace"), limits.model_copy(update={"max_json_depth": limits.max_json_depth + 2})
    )
    try:
        payload = CheckRequest.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    project: ProjectIn = payload.project
    facts = ProjectFacts(project.name, project.level, project.category, project.land_use_code)
    options = CheckOptions(as_of=_as_of(payload.as_of), include_geometry=payload.include_geometry)
    intake = {"body_site": payload.site, "crs": payload.crs, "zone": payload.zone, "repair": payload.repair}
    return await _submit(store, rules, settings, caller, intake, facts, options)


async def _submit(
    store: Store,
    rules: RuleSet,
    settings: Settings,
    caller: Principal,
    intake: dict[str, Any],
    facts: ProjectFacts,
    options: CheckOptions,
) -> Response:
    """Run the domain's submit_check off the event loop, as the caller."""
    result = await run_in_threadpool(
        lambda: submit_check(
            store,
            rules,
            facts=facts,
            options=options,
            analysis_crs=settings.analysis_crs,
            limits=settings.intake,
            created_by=caller.actor,
            organisation=caller.organisation,
            **intake,
        )
    )
    return as_built(result)


@router.get("/{check_id}", response_model=CheckRecordOut, operation_id="getCheck")
def get_check(check_id: str, store: StoreDep) -> Any:
    """Return a stored check: accepted with its result, or refused with its error."""
    record = store.get_check(check_id)
    return as_built({k: v for k, v in record.__dict__.items() if k != "geometry_wkb"})


@router.post("/{check_id}/rerun", response_model=CheckResult, operation_id="rerunCheck")
def rerun(check_id: str, store: StoreDep, settings: SettingsDep, rules: RulesDep, caller: CallerDep) -> Any:
    """Re-run a stored check against exactly the layer versions it used; the answer is stored as a new check."""
    return as_built(
        rerun_check(
            store,
            check_id,
            rules,
            analysis_crs=settings.analysis_crs,
            created_by=caller.actor,
            organisation=caller.organisation,
        )
    )
