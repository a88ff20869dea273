"""The ``sitecheck`` command line: demo, serve, layer loading and inspection."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.cli_keys import keys_cli
from app.cli_parcels import parcels_cli
from app.security import is_loopback
from sitecheck.errors import SitecheckError
from sitecheck.settings import SAMPLE_CITY_DIR, AccessSettings, Settings, get_settings
from sitecheck.stores import open_store

cli = typer.Typer(help="sitecheck: 项目选址合规性审查与按图索地", no_args_is_help=True, add_completion=False)
layers_cli = typer.Typer(help="Load, list and roll back layer versions (图层版本管理)", no_args_is_help=True)
cli.add_typer(layers_cli, name="layers")
cli.add_typer(parcels_cli, name="parcels")
cli.add_typer(keys_cli, name="keys")
console = Console()


def _user() -> str:
    """Name recorded as the loader of versions made from the command line."""
    return f"cli:{getpass.getuser()}"


def _fail(error: SitecheckError) -> None:
    """Print a domain error in both languages and exit with status 2."""
    console.print(f"[bold red]{error.code}[/] {error.message_zh}\n{error.message_en}")
    raise typer.Exit(2)


@cli.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its versions and records")] = Path("var/demo"),
) -> None:
    """Serve the sample city 示例市 on the embedded engine (no database needed)."""
    import uvicorn

    from app.main import create_app
    from layers.load import load_configured_layers

    if not is_loopback(host):
        console.print(
            f"[bold red]the demo runs without access control and only listens on this machine; {host} is not one[/]"
        )
        raise typer.Exit(2)
    settings = Settings(
        database_url=None,
        data_dir=data_dir,
        layer_config=SAMPLE_CITY_DIR / "layers.toml",
        access=AccessSettings(auth_enabled=False),
    )
    store = open_store(settings)
    try:
        loaded = load_configured_layers(store, loaded_by="demo", analysis_crs=settings.analysis_crs)
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()
    for version in loaded:
        console.print(f"loaded {version.layer_key} v{version.version}: {version.feature_count} features")
    console.print(f"示例市 demo on http://{host}:{port}/  (embedded engine, data in {data_dir.resolve()})")
    console.print(
        "访问控制已关闭：仅本机可访问，无需 API 密钥。Access control is OFF: loopback callers only, no API key needed."
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the API with the settings from the environment (SITECHECK_*)."""
    import uvicorn

    uvicorn.run("app.main:app", host=host, port=port, workers=workers, log_level="info")


@layers_cli.command("load")
def layers_load(
    file: Annotated[Path | None, typer.Argument(help="Source file: .gpkg, .zip (Shapefile), .geojson, .gdb")] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="Layer key from the configuration")] = None,
    crs: Annotated[str | None, typer.Option(help="Source CRS when the file declares none, e.g. EPSG:4528")] = None,
    encoding: Annotated[str | None, typer.Option(help="Attribute encoding, e.g. GBK")] = None,
    all_layers: Annotated[bool, typer.Option("--all", help="Load every layer from its configured source")] = False,
) -> None:
    """Load a source file as a new, published version of a layer (all or nothing)."""
    from layers.load import load_configured_layers
    from layers.publish import load_recorded

    settings = get_settings()
    store = open_store(settings)
    try:
        if all_layers:
            for version in load_configured_layers(
                store, loaded_by=_user(), analysis_crs=settings.analysis_crs, only_missing=False
            ):
                console.print(f"{version.layer_key} v{version.version}: {version.feature_count} features")
            return
        if file is None or layer is None:
            console.print("give FILE and --layer KEY, or --all")
            raise typer.Exit(2)
        with Progress(
            TextColumn(f"loading {layer}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("load", total=None)

            def advance(written: int, total: int) -> None:
                progress.update(task, completed=written, total=total)

            version = load_recorded(
                store,
                layer,
                file,
                actor=_user(),
                crs=crs,
                encoding=encoding,
                analysis_crs=settings.analysis_crs,
                progress=advance,
            )
        report = version.report
        console.print(
            f"published {layer} v{version.version}: {version.feature_count} features "
            f"(read {report.get('read')}, repaired {report.get('repaired')}, dropped {report.get('dropped')}) "
            f"in {report.get('seconds')} s"
        )
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()


@layers_cli.command("list")
def layers_list() -> None:
    """List the configured layers with their current version, count and extent."""
    from sitecheck.catalog import describe_layers

    store = open_store(get_settings())
    try:
        table = Table(title=f"图层 layers ({store.engine})")
        for column in ("key", "名称", "role", "version", "features", "bbox", "loaded_at"):
            table.add_column(column)
        for layer in describe_layers(store):
            bbox = layer["bbox"]
            table.add_row(
                layer["key"],
                layer["name_zh"],
                layer["role"],
                str(layer["version"] or "-"),
                str(layer["feature_count"] if layer["feature_count"] is not None else "-"),
                ", ".join(f"{v:.0f}" for v in bbox) if bbox else "-",
                layer["loaded_at"].strftime("%Y-%m-%d %H:%M:%S") if layer["loaded_at"] else "-",
            )
        console.print(table)
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()


@layers_cli.command("versions")
def layers_versions(layer: Annotated[str, typer.Argument(help="Layer key")]) -> None:
    """List every version of a layer, newest first."""
    store = open_store(get_settings())
    try:
        table = Table(title=f"{layer} versions ({store.engine})")
        for column in ("version", "current", "source", "sha256", "features", "loaded_at", "loaded_by", "report"):
            table.add_column(column)
        for v in store.list_versions(layer):
            table.add_row(
                str(v.version),
                "*" if v.is_current else "",
                v.source_name,
                v.sha256[:12],
                str(v.feature_count),
                v.loaded_at.strftime("%Y-%m-%d %H:%M:%S"),
                v.loaded_by,
                f"repaired {v.report.get('repaired', 0)}, dropped {v.report.get('dropped', {})}",
            )
        console.print(table)
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()


@layers_cli.command("rollback")
def layers_rollback(
    layer: Annotated[str, typer.Argument(help="Layer key")],
    to: Annotated[int, typer.Option("--to", help="Version to make current again")],
) -> None:
    """Make an earlier version of a layer current again."""
    from layers.publish import rollback_recorded

    store = open_store(get_settings())
    try:
        version = rollback_recorded(store, layer, to, actor=_user())
        console.print(f"{layer}: version {version.version} is current again ({version.feature_count} features)")
    except SitecheckError as error:
        _fail(error)
    finally:
        store.close()


@cli.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="Site file: 部标 TXT, GeoJSON, WKT, Shapefile zip, KML/KMZ, DXF")],
    name: Annotated[str, typer.Option(help="Project name")] = "",
    level: Annotated[str, typer.Option(help="national/provincial/municipal/county/other")] = "municipal",
    category: Annotated[
        str, typer.Option(help="industrial, warehouse_logistics, ... (see docs/checks.md)")
    ] = "industrial",
    use: Annotated[str | None, typer.Option("--use", help="Intended land-use code, e.g. 100101")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of the coordinates, e.g. EPSG:4490 or GCJ02")] = None,
    zone: Annotated[int | None, typer.Option(help="Gauss-Krüger zone (带号) if not in the file")] = None,
    repair: Annotated[bool, typer.Option(help="Repair invalid geometry instead of refusing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON result")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the report (合规性审查报告) to this .pdf or .html file")
    ] = None,
    map_png: Annotated[Path | None, typer.Option("--map", help="Write the map (叠加分析图) to this .png file")] = None,
) -> None:
    """Check a site file against the control layers and print the verdict (合规性审查)."""
    import json

    from sitecheck.check import submit_check
    from sitecheck.documents import report_format, write_check_documents
    from sitecheck.rules import ProjectFacts, load_rules

    if report is not None:
        try:
            report_format(report)
        except SitecheckError as error:
            _fail(error)
    settings = get_settings()
    store = open_store(settings)
    written: list[Path] = []
    try:
        result = submit_check(
            store,
            load_rules(settings.rules_config),
            upload=file.read_bytes(),
            filename=file.name,
            crs=crs,
            zone=zone,
            repair=repair,
            facts=ProjectFacts(name, level, category, use),
            analysis_crs=settings.analysis_crs,
            limits=settings.intake,
            created_by=_user(),
        )
        if report is not None or map_png is not None:
            written = write_check_documents(store, result["check_id"], report=report, map_png=map_png)
    except SitecheckError as error:
        _fail(error)
    except OSError as error:
        console.print(f"[bold red]无法写出文件[/] {error}")
        raise typer.Exit(2) from error
    finally:
        store.close()
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    _print_check(result)
    for path in written:
        console.print(f"已写出 {path}")


def _print_check(result: dict[str, Any]) -> None:
    """Print a check result as a table with Chinese labels."""
    site = result["site"]
    console.print(
        f"[bold]审查结论 {result['verdict_zh']}[/] ({result['verdict']})  编号 {result['check_id']}\n"
        f"项目用地 {site['area_ha']:.4f} 公顷 / {site['area_mu']:.2f} 亩 / {site['area_m2']:.2f} 平方米"
        f"（椭球面积 {site['ellipsoidal_area_m2']:.2f} 平方米）"
    )
    table = Table(title="三线协调分析")
    for column in ("图层", "结论", "占用面积(公顷)", "占用面积(亩)", "占比", "说明"):
        table.add_column(column)
    for layer in result["layers"]:
        overlap = layer.get("overlap") or {}
        if layer["role"] == "zone":
            overlap = layer.get("outside") or {}
        table.add_row(
            layer["name_zh"],
            layer["status_zh"],
            f"{overlap['area_ha']:.4f}" if overlap else "-",
            f"{overlap['area_mu']:.2f}" if overlap else "-",
            f"{overlap.get('share', layer.get('share', 0)):.2%}" if overlap else "-",
            layer["rule"]["reason_zh"],
        )
    console.print(table)
    for warning in result["warnings"]:
        console.print(f"[yellow]提示[/] {warning['code']}: {warning['message_zh']}")


@cli.command("sample-city")
def sample_city(
    out: Annotated[Path, typer.Option(help="Output directory")] = SAMPLE_CITY_DIR,
    scale: Annotated[str, typer.Option(help="sample (committed) or city (benchmarks)")] = "sample",
    seed: Annotated[int, typer.Option(help="Random seed")] = 20261122,
) -> None:
    """Generate the sample city's layers (deterministic for a seed)."""
    from layers.sample_city import generate

    summary = generate(out, scale=scale, seed=seed)
    console.print(summary)


def main() -> None:
    """Entry point of the console script."""
    cli()
