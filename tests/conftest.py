"""Shared fixtures: a fresh PostGIS database for the run, and stores of both engines.

A test that needs PostGIS fails loudly when PostGIS is missing: it is never skipped. The database is
created for this run and dropped afterwards, so nothing depends on an earlier run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sitecheck.config import LayerCatalog, load_catalog
from sitecheck.settings import SAMPLE_CITY_DIR, Settings
from sitecheck.stores import open_store
from sitecheck.stores.base import Store

ENGINES = ("embedded", "postgis")
ADMIN_URL = os.environ.get("SITECHECK_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """Create a fresh database with PostGIS for this test run; drop it at the end."""
    name = f"sitecheck_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            try:
                conn.execute("CREATE EXTENSION postgis")
            except psycopg.Error as exc:
                pytest.fail(f"PostGIS is not installed on this PostgreSQL: {exc}", pytrace=False)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sample_catalog() -> LayerCatalog:
    """The sample city's layer configuration."""
    return load_catalog(SAMPLE_CITY_DIR / "layers.toml")


def make_settings(engine: str, tmp_path: Path, request: pytest.FixtureRequest, **overrides: object) -> Settings:
    """Settings for a fresh, empty store of one engine (own data dir or own PostgreSQL schema)."""
    if engine == "postgis":
        url = request.getfixturevalue("postgis_url")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        return Settings(database_url=url, db_schema=schema, data_dir=tmp_path / "var", **overrides)  # type: ignore[arg-type]
    return Settings(database_url=None, data_dir=tmp_path / "var", **overrides)  # type: ignore[arg-type]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine in turn."""
    return str(request.param)


@pytest.fixture
def empty_store(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh store with the sample configuration and no layer loaded yet."""
    store = open_store(make_settings(engine, tmp_path, request))
    yield store
    store.close()
