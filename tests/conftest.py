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
from fastapi.testclient import TestClient

from sitecheck.config import LayerCatalog, load_catalog
from sitecheck.settings import SAMPLE_CITY_DIR, AccessSettings, Settings
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


LOOPBACK_CLIENT = ("127.0.0.1", 50000)


def make_settings(engine: str, tmp_path: Path, request: pytest.FixtureRequest, **overrides: object) -> Settings:
    """Settings for a fresh, empty store of one engine (own data dir or own PostgreSQL schema).

    Access control is off, as in the demo (loopback callers only): tests of access control turn it on.
    """
    overrides.setdefault("access", AccessSettings(auth_enabled=False))
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


@pytest.fixture(scope="session")
def sample_settings(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict[str, Settings]:
    """Settings of the sample city on each engine, with every layer loaded once as version 1."""
    from layers.load import load_configured_layers

    settings = {engine: make_settings(engine, tmp_path_factory.mktemp(engine), request) for engine in ENGINES}
    for each in settings.values():
        store = open_store(each)
        try:
            load_configured_layers(store, loaded_by="tests", analysis_crs=store.crs)
        finally:
            store.close()
    return settings


@pytest.fixture(scope="session")
def sample_stores(sample_settings: dict[str, Settings]) -> Iterator[dict[str, Store]]:
    """The sample city on both engines (read-only: tests must not load or roll back here)."""
    stores = {engine: open_store(settings) for engine, settings in sample_settings.items()}
    yield stores
    for store in stores.values():
        store.close()


@pytest.fixture(params=ENGINES)
def sample_store(request: pytest.FixtureRequest, sample_stores: dict[str, Store]) -> Store:
    """The loaded sample city on each engine in turn."""
    return sample_stores[str(request.param)]


@pytest.fixture(params=ENGINES)
def client(request: pytest.FixtureRequest, sample_settings: dict[str, Settings]) -> Iterator[TestClient]:
    """An HTTP client of the app serving the sample city, on each engine in turn."""
    from app.main import create_app

    with TestClient(create_app(sample_settings[str(request.param)]), client=LOOPBACK_CLIENT) as test_client:
        yield test_client
