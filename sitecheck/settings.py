"""Settings: one pydantic-settings tree read from ``SITECHECK_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CITY_DIR = REPO_ROOT / "data" / "sample_gpkg"


class IntakeLimits(BaseSettings):
    """Limits applied to uploads before any expensive work."""

    model_config = SettingsConfigDict(env_prefix="SITECHECK_INTAKE_")

    max_upload_bytes: int = 20 * 1024 * 1024
    max_vertices: int = 200_000
    max_parts: int = 10_000
    max_zip_entries: int = 64
    max_zip_ratio: float = 100.0
    max_unzipped_bytes: int = 200 * 1024 * 1024
    max_json_depth: int = 32


class AccessSettings(BaseSettings):
    """Access control, limits and exposure of the HTTP service."""

    model_config = SettingsConfigDict(env_prefix="SITECHECK_ACCESS_")

    auth_enabled: bool = Field(default=True, description="Off only for the local demo: then loopback callers only.")
    public_read: bool = Field(default=False, description="Let callers without a key read the map layers.")
    rate_per_key: str = Field(default="3000/minute", description="Requests per key (limits notation).")
    rate_per_ip: str = Field(default="6000/minute", description="Requests per client address.")
    max_heavy_concurrency: int = Field(default=8, ge=1, description="Checks, reports, maps running at once.")
    max_concurrency: int = Field(
        default=4, ge=1, description="API requests running at once per worker; the rest wait in arrival order."
    )
    heavy_wait_seconds: float = Field(default=10.0, ge=0, description="Wait for a work or heavy-work slot before 503.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS.")
    docs_enabled: bool = Field(default=True, description="Serve the OpenAPI document and its pages.")
    key_cache_seconds: float = Field(
        default=5.0, ge=0, description="Trust a key read from the store this long (revocations elsewhere wait it)."
    )


class Settings(BaseSettings):
    """Deployment settings. No database URL means the embedded engine (GeoPackage + Shapely)."""

    model_config = SettingsConfigDict(env_prefix="SITECHECK_", env_nested_delimiter="__")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL (postgresql://...). Absent: the embedded engine."
    )
    data_dir: Path = Field(
        default=Path("var"), description="Where the embedded engine keeps loaded versions and its records."
    )
    analysis_crs: str = Field(default="EPSG:4528", description="Projected CRS in metres for storage and areas.")
    layer_config: Path = Field(default=SAMPLE_CITY_DIR / "layers.toml", description="Layer configuration file (TOML).")
    rules_config: Path = Field(default=Path(__file__).with_name("rules.toml"), description="Rule set file (TOML).")
    db_schema: str = Field(default="sitecheck", description="PostgreSQL schema for records and layer tables.")
    intake: IntakeLimits = Field(default_factory=IntakeLimits)
    access: AccessSettings = Field(default_factory=AccessSettings)
    statement_timeout_ms: int = Field(default=30_000, ge=0, description="PostgreSQL statement timeout for requests.")
    pool_timeout_s: float = Field(default=5.0, gt=0, description="Wait for a database connection before 503.")

    @property
    def engine(self) -> str:
        """Name of the engine these settings select: ``postgis`` or ``embedded``."""
        return "postgis" if self.database_url else "embedded"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
