# sitecheck API server. Layers come from PostGIS (set SITECHECK_DATABASE_URL) or, without a database,
# from the GeoPackages named in the layer configuration (the embedded engine).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SITECHECK_DATA_DIR=/srv/sitecheck/var \
    SITECHECK_LAYER_CONFIG=/srv/sitecheck/data/sample_gpkg/layers.toml

WORKDIR /srv/sitecheck

# Shapely, pyogrio, pyproj and rasterio wheels bundle GEOS, GDAL and PROJ: no system libraries needed.
COPY pyproject.toml README.md ./
COPY app ./app
COPY sitecheck ./sitecheck
COPY layers ./layers
COPY data/sample_gpkg ./data/sample_gpkg
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sitecheck \
    && mkdir -p /srv/sitecheck/var \
    && chown sitecheck /srv/sitecheck/var

USER sitecheck
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
