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
    rules_config: Path = Field(
        default=Path(__file__).with_name("rules.toml"), description="Rule set file (TOML)."
    )
    db_schema: str = Field(default="sitecheck", description="PostgreSQL schema for records and layer tables.")
    intake: IntakeLimits = Field(default_factory=IntakeLimits)

    @property
    def engine(self) -> str:
        """Name of the engine these settings select: ``postgis`` or ``embedded``."""
        return "postgis" if self.database_url else "embedded"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
