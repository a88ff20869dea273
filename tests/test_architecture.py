"""The dependency direction app -> sitecheck <- layers, checked on the source text."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> set[str]:
    """Return the top-level modules imported anywhere in a package."""
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_domain_never_imports_the_web_framework() -> None:
    """sitecheck/ and layers/ import neither fastapi nor starlette, nor the app package."""
    for package in ("sitecheck", "layers"):
        assert not _imports(package) & {"fastapi", "starlette", "app", "uvicorn"}, package


def test_domain_does_not_import_the_loader() -> None:
    """sitecheck/ never imports layers/: loading depends on the domain, not the other way round."""
    assert "layers" not in _imports("sitecheck")


def test_app_holds_no_sql() -> None:
    """No SQL text in app/: queries live in the store modules."""
    for path in (ROOT / "app").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for keyword in ("SELECT ", "INSERT INTO", "CREATE TABLE", "ST_"):
            assert keyword not in text, f"{path.name} contains {keyword!r}"
