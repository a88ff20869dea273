"""``sitecheck parcels``: search parcels (按图索地), show one, suggest sites, recompute compliance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sitecheck.errors import ParameterInvalid, SitecheckError
from sitecheck.parcels import (
    ParcelQuery,
    SuggestRequest,
    get_parcel,
    parcels_csv,
    parcels_geojson,
    refresh_parcels,
    search_parcels,
    suggest_sites,
)
from sitecheck.rules import RuleSet, load_rules
from sitecheck.settings import get_settings
from sitecheck.stores import open_store
from sitecheck.stores.base import Store

parcels_cli = typer.Typer(help="Parcel search and site suggestions (按图索地 / 规划选址建议)", no_args_is_help=True)
console = Console()
Many = Annotated[list[str] | None, typer.Option()]


def _fail(error: SitecheckError) -> None:
    """Print a domain error in both languages and exit with status 2."""
    console.print(f"[bold red]{error.code}[/] {error.message_zh}\n{error.message_en}")
    raise typer.Exit(2)


def _weights(text: str | None) -> dict[str, float] | None:
    """Parse ``area_fit=0.5,transit=0.3`` into weights."""
    if not text:
        return None
    weights = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        try:
            weights[key.strip()] = float(value)
        except ValueError as exc:
            raise ParameterInvalid(f"weights: {part!r} is not name=number", f"权重 {part!r} 应为 名称=数值") from exc
    return weights


def _open() -> tuple[Store, RuleSet]:
    """The store and rules of the environment's settings."""
    settings = get_settings()
    return open_store(settings), load_rules(settings.rules_config)


@parcels_cli.command("search")
def search(
    min_mu: Annotated[float | None, typer.Option(help="Smallest area, 亩")] = None,
    max_mu: Annotated[float | None, typer.Option(help="Largest area, 亩")] = None,
    min_m2: Annotated[float | None, typer.Option(help="Smallest area, m²")] = None,
    max_m2: Annotated[float | None, typer.Option(help="Largest area, m²")] = None,
    target_mu: Annotated[float | None, typer.Option(help="Wanted area for ranking, 亩")] = None,
    use: Many = None,
    district: Many = None,
    status: Many = None,
    industry: Many = None,
    park: Many = None,
    min_far: Annotated[float | None, typer.Option(help="容积率上限 at least")] = None,
    max_far: Annotated[float | None, typer.Option(help="容积率下限 at most")] = None,
    far: Annotated[float | None, typer.Option(help="Wanted FAR for ranking")] = None,
    min_invest: Annotated[float | None, typer.Option(help="投资强度 at least, 万元/亩")] = None,
    max_invest: Annotated[float | None, typer.Option(help="投资强度 at most, 万元/亩")] = None,
    min_tax: Annotated[float | None, typer.Option(help="亩均税收 at least, 万元/亩")] = None,
    max_tax: Annotated[float | None, typer.Option(help="亩均税收 at most, 万元/亩")] = None,
    max_transit_m: Annotated[float | None, typer.Option(help="Farthest from a transit stop, metres")] = None,
    transit_kind: Many = None,
    inside: Many = None,
    outside: Many = None,
    include_nonclean: Annotated[bool, typer.Option(help="Also parcels with compliance problems")] = False,
    weights: Annotated[str | None, typer.Option(help="Ranking weights, e.g. area_fit=0.5,transit=0.3")] = None,
    limit: Annotated[int | None, typer.Option(help="Rows shown (default 20)")] = None,
    offset: Annotated[int, typer.Option(help="Rows skipped")] = 0,
    geojson: Annotated[Path | None, typer.Option(help="Write every match as GeoJSON to this file")] = None,
    csv: Annotated[Path | None, typer.Option(help="Write every match as CSV (Excel, UTF-8 BOM) to this file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON result")] = False,
) -> None:
    """Search parcels and print them as a table (only compliance-clean parcels unless --include-nonclean)."""
    store, rules = _open()
    try:
        query = ParcelQuery(
            district=district or [],
            min_mu=min_mu,
            max_mu=max_mu,
            min_m2=min_m2,
            max_m2=max_m2,
            target_mu=target_mu,
            use=use or [],
            status=status or [],
            industry=industry or [],
            park=park or [],
            min_far=min_far,
            max_far=max_far,
            far=far,
            min_invest=min_invest,
            max_invest=max_invest,
            min_tax=min_tax,
            max_tax=max_tax,
            max_transit_m=max_transit_m,
            transit_kind=transit_kind or [],
            inside=inside or [],
            outside=outside or [],
            include_nonclean=include_nonclean,
            weights=_weights(weights),
            limit=limit,
            offset=offset,
        )
        result = search_parcels(store, rules, query)
        files = ParcelQuery(**{**query.__dict__, "limit": None, "offset": 0})
        if geojson is not None:
            geojson.write_text(
                json.dumps(parcels_geojson(store, rules, files, export=True), ensure_ascii=False), encoding="utf-8"
            )
        if csv is not None:
            csv.write_bytes(parcels_csv(store, rules, files))
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    _print_results(result)
    for path in (geojson, csv):
        if path is not None:
            console.print(f"已写出 {path}")


def _print_results(result: dict[str, Any]) -> None:
    """The results as a table with Chinese labels, then totals and the weights in force."""
    table = Table(title=f"按图索地 parcel search ({result['engine']})")
    for column in (
        "排名",
        "地块编号",
        "地块名称",
        "用地性质",
        "面积(亩)",
        "状态",
        "行政区",
        "距交通站点(米)",
        "合规",
        "得分",
        "理由",
    ):
        table.add_column(column)
    for item in result["items"]:
        district = (item["district"] or {}).get("name") or "-"
        transit = item["transit_m_ranked"]
        table.add_row(
            str(item["rank"]),
            item["id"],
            item["name"] or "-",
            f"{item['land_use']['code']} {item['land_use']['name_zh']}",
            f"{item['area_mu']:.2f}",
            item["status"] or "-",
            district,
            f"{transit:.0f}" if transit is not None else "-",
            "是" if item["compliance"]["clean"] else item["compliance"]["verdict_zh"],
            f"{item['score']:.3f}",
            item["reason_zh"],
        )
    console.print(table)
    shown = f"{result['offset'] + 1}–{result['offset'] + result['count']}" if result["count"] else "0"
    weights = ", ".join(f"{k} {w:.2f}" for k, w in result["ranking"]["applied_weights"].items())
    console.print(f"共 {result['total']} 宗，显示 {shown}；权重 {weights}；图层版本 {result['layer_versions']}")


@parcels_cli.command("show")
def show(parcel_id: Annotated[str, typer.Argument(help="地块编号")]) -> None:
    """Print everything about one parcel as JSON (attributes, compliance per layer, transit, neighbours)."""
    store, rules = _open()
    try:
        detail = get_parcel(store, rules, parcel_id)
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()
    print(json.dumps(detail, ensure_ascii=False, indent=2))


@parcels_cli.command("suggest")
def suggest(
    mu: Annotated[float, typer.Option(help="Required area, 亩")],
    category: Annotated[str, typer.Option(help="Project category (industrial, warehouse_logistics, …)")] = "industrial",
    use: Annotated[str | None, typer.Option(help="Land-use code (100101, M2, 0601, …)")] = None,
    district: Many = None,
    max_group_size: Annotated[int, typer.Option(help="Most parcels in one suggestion")] = 3,
    limit: Annotated[int, typer.Option(help="Suggestions shown")] = 5,
) -> None:
    """Suggest parcels or adjacent parcel groups for a project (规划选址建议)."""
    store, rules = _open()
    try:
        result = suggest_sites(
            store,
            rules,
            SuggestRequest(
                area_mu=mu,
                category=category,
                land_use_code=use,
                district=district or [],
                max_group_size=max_group_size,
                limit=limit,
            ),
        )
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()
    table = Table(title=f"规划选址建议 {result['required_area_mu']:.1f} 亩 ({result['engine']})")
    for column in ("排名", "地块", "面积(亩)", "审查结论", "得分", "理由"):
        table.add_column(column)
    for option in result["options"]:
        table.add_row(
            str(option["rank"]),
            "、".join(option["parcel_ids"]),
            f"{option['area_mu']:.2f}",
            option["check"]["verdict_zh"],
            f"{option['score']:.3f}",
            option["reason_zh"],
        )
    console.print(table)
    console.print(f"候选地块 {result['candidates']} 宗，可连片组合 {result['groups_considered']} 组")


@parcels_cli.command("refresh")
def refresh(force: Annotated[bool, typer.Option(help="Recompute every part, not only stale ones")] = False) -> None:
    """Bring the precomputed parcel compliance up to date with the current layer versions."""
    store, rules = _open()
    try:
        report = refresh_parcels(store, rules, force=force)
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()
    console.print(report)
