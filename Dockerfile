# sitecheck API server. Layers come from PostGIS (set SITECHECK_DATABASE_URL) or, without a database,
# from the GeoPackages named in the layer configuration (the embedded engine).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SITECHECK_DATA_DIR=/srv/sitecheck/var \
    SITECHECK_LAYER_CONFIG=/srv/sitecheck/data/sample_gpkg/layers.toml \
    NUMBA_CACHE_DIR=/srv/sitecheck/numba-cache \
    NUMBA_CPU_NAME=generic

WORKDIR /srv/sitecheck

# Shapely, pyogrio, pyproj and rasterio wheels bundle GEOS, GDAL and PROJ: no system libraries needed.
COPY pyproject.toml README.md ./
COPY app ./app
COPY sitecheck ./sitecheck
COPY layers ./layers
COPY data/sample_gpkg ./data/sample_gpkg
# The embedded engine's tile writer is compiled (numba) once here, into the cache the service loads it from:
# for any x86-64 CPU (numba keys its cache on the CPU), for the copy uvicorn imports (./sitecheck) and for the
# installed one the sitecheck command imports. The service can write there too (numba needs that); where it
# cannot write anywhere, it compiles at every start instead (sitecheck/compiled.py).
RUN pip install . \
    && python -c "import sitecheck.onemap.mvt_embedded" \
    && (cd / && python -c "import sitecheck.onemap.mvt_embedded") \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sitecheck \
    && mkdir -p /srv/sitecheck/var \
    && chown -R sitecheck /srv/sitecheck/var /srv/sitecheck/numba-cache

USER sitecheck
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
