// The map: the catalogue's layers as versioned vector tiles on a plain background (nothing is fetched from
// outside the service), a layer list with legend, versions and load dates, feature attributes on click, a
// scale bar, cursor coordinates in lon/lat and in the analysis CRS, and overlays for a check and a search.
import {getJson} from './api.js';
import {DrawTool} from './draw.js';
import {coordinate, dateOnly, h, ha, mu, num} from './format.js';
import {named, pick, t} from './i18n.js';

const BACKGROUND = '#eef0ea';
const STATUS_COLORS = {conflict: '#d32f2f', conditional: '#ef6c00', review: '#ad1457'};
const SITE_COLOR = '#0d47a1';
const RESULT_COLOR = '#ff6f00';
const ROLE_ORDER = {reference: 0, constraint: 1, zone: 2, parcels: 3};

/** True when the browser can give MapLibre a WebGL context. */
function webglAvailable() {
  try {
    const canvas = document.createElement('canvas');
    return Boolean(canvas.getContext('webgl2') || canvas.getContext('webgl'));
  } catch {
    return false;
  }
}

/** The [minx, miny, maxx, maxy] of any GeoJSON geometry, feature or collection (for framing only). */
export function boundsOf(geojson) {
  const box = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (coords) => {
    if (typeof coords[0] === 'number') {
      box[0] = Math.min(box[0], coords[0]);
      box[1] = Math.min(box[1], coords[1]);
      box[2] = Math.max(box[2], coords[0]);
      box[3] = Math.max(box[3], coords[1]);
    } else {
      for (const part of coords) visit(part);
    }
  };
  const walk = (obj) => {
    if (!obj) return;
    if (obj.type === 'FeatureCollection') obj.features.forEach(walk);
    else if (obj.type === 'Feature') walk(obj.geometry);
    else if (obj.type === 'GeometryCollection') obj.geometries.forEach(walk);
    else if (obj.coordinates) visit(obj.coordinates);
  };
  walk(geojson);
  return Number.isFinite(box[0]) ? box : null;
}

/** A diagonal hatch as image data, for the part of a site outside a boundary. */
function hatchImage(color) {
  const size = 10;
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(-1, size + 1);
  ctx.lineTo(size + 1, -1);
  ctx.moveTo(-1, 1);
  ctx.lineTo(1, -1);
  ctx.moveTo(size - 1, size + 1);
  ctx.lineTo(size + 1, size - 1);
  ctx.stroke();
  const image = ctx.getImageData(0, 0, size, size);
  return {width: size, height: size, data: new Uint8Array(image.data.buffer)};
}

/** The MapLibre style layers that draw one catalogue layer, by its role and geometry. */
function styleLayers(layer) {
  const source = layer.key;
  const common = {source, 'source-layer': layer.key};
  const color = layer.color;
  const polygon = ['==', ['geometry-type'], 'Polygon'];
  const out = [];
  const polygonal = layer.geometry === 'polygon' || layer.geometry === 'multipolygon';
  const anyGeometry = !polygonal && layer.geometry !== 'point' && layer.geometry !== 'line';
  if (polygonal || anyGeometry) {
    const filter = anyGeometry ? {filter: polygon} : {};
    if (layer.role === 'reference') {
      out.push({id: `${source}-line`, type: 'line', ...common, ...filter,
        paint: {'line-color': color, 'line-width': 1.6, 'line-dasharray': [4, 2], 'line-opacity': 0.85}});
    } else if (layer.role === 'zone') {
      out.push({id: `${source}-fill`, type: 'fill', ...common, ...filter,
        paint: {'fill-color': color, 'fill-opacity': layer.zoneIndex === 0 ? 0.04 : 0.1}});
      out.push({id: `${source}-line`, type: 'line', ...common, ...filter, stage: 'outline',
        paint: {'line-color': color, 'line-width': layer.zoneIndex === 0 ? 2.2 : 1.6,
          ...(layer.zoneIndex === 0 ? {} : {'line-dasharray': [3, 1.5]})}});
    } else {
      const opacity = layer.role === 'parcels' ? 0.28 : 0.4;
      out.push({id: `${source}-fill`, type: 'fill', ...common, ...filter,
        paint: {'fill-color': color, 'fill-opacity': opacity}});
      out.push({id: `${source}-line`, type: 'line', ...common, ...filter,
        paint: {'line-color': color, 'line-opacity': 0.9, 'line-width': ['interpolate', ['linear'], ['zoom'],
          10, 0.3, 14, layer.role === 'parcels' ? 0.9 : 1.2]}});
    }
  }
  if (anyGeometry || layer.geometry === 'line') {
    out.push({id: `${source}-lines`, type: 'line', ...common, stage: 'top',
      filter: ['==', ['geometry-type'], 'LineString'],
      paint: {'line-color': color, 'line-width': 2.4, 'line-opacity': 0.85}});
  }
  if (anyGeometry || layer.geometry === 'point') {
    out.push({id: `${source}-points`, type: 'circle', ...common, stage: 'top',
      filter: ['==', ['geometry-type'], 'Point'],
      paint: {'circle-color': color, 'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, 3, 15, 6],
        'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.5}});
  }
  return out;
}

/** A legend swatch that looks like the layer's drawing. */
function swatch(layer) {
  const style = {reference: 'dash', zone: layer.zoneIndex === 0 ? 'outline' : 'zone', raster: 'raster'}[layer.role]
    || (layer.geometry === 'any' ? 'point' : 'fill');
  const el = h('span', {class: `swatch swatch-${style}`, 'aria-hidden': 'true'});
  el.style.setProperty('--swatch', layer.color || '#888');
  return el;
}

/** The map view; every method is safe to call when the map could not be made (no WebGL). */
export class MapView {
  constructor({container, notice, layerList, legendExtra, layersMeta, coords, banner}) {
    this.container = container;
    this.notice = notice;
    this.layerList = layerList;
    this.legendExtra = legendExtra;
    this.layersMeta = layersMeta;
    this.coords = coords;
    this.banner = banner;
    this.map = null;
    this.available = false;
    this.catalogue = null;
    this.layers = [];
    this.hidden = new Set();
    this.parcelActions = null;
    this.resultHandlers = null;
    this.resultMarkers = [];
    this.hoveredResult = null;
    this.overlays = new Set();
    this.popup = null;
    this.lastPointer = null;
    this.draw = null;
  }

  /** Load the catalogue and, when WebGL works, the map with one vector tile source per loaded layer. */
  async init(config, catalogue) {
    this.config = config;
    this.catalogue = catalogue;
    let zoneIndex = 0;
    this.layers = catalogue.layers.map((layer) => ({
      ...layer,
      zoneIndex: layer.role === 'zone' ? zoneIndex++ : -1,
      tiles: null,
    }));
    this.projector = this.makeProjector(config);
    this.renderLayerList();
    this.renderCoords(null);
    if (!webglAvailable()) {
      this.showNotice(t('map_no_webgl'));
      this.coords.hidden = true;
      return;
    }
    const drawable = this.layers.filter((layer) => layer.version != null && layer.role !== 'raster');
    const tilejsons = await Promise.all(
      drawable.map((layer) => getJson(`/v1/tiles/${encodeURIComponent(layer.key)}/tilejson.json`).catch(() => null)),
    );
    drawable.forEach((layer, i) => {
      layer.tiles = tilejsons[i];
    });
    const maplibregl = await import(`${config.maplibre}/maplibre-gl.mjs`);
    this.maplibregl = maplibregl;
    try {
      this.map = new maplibregl.Map({
        container: this.container,
        style: this.buildStyle(),
        bounds: this.initialBounds(),
        fitBoundsOptions: {padding: this.padding()},
        attributionControl: false,
        dragRotate: false,
        pitchWithRotate: false,
        touchPitch: false,
        maxZoom: 19,
        cooperativeGestures: false,
        localIdeographFontFamily: false,
      });
    } catch (error) {
      this.showNotice(t('map_failed', {message: error.message}));
      return;
    }
    this.available = true;
    this.map.touchZoomRotate.disableRotation();
    this.map.keyboard.disableRotation();
    this.map.addControl(new maplibregl.NavigationControl({showCompass: false}), 'top-left');
    this.map.addControl(new maplibregl.ScaleControl({maxWidth: 140, unit: 'metric'}), 'bottom-left');
    this.map.on('error', (event) => this.onMapError(event));
    this.map.on('mousemove', (event) => this.onPointerMove(event));
    this.map.on('mouseout', () => this.renderCoords(null));
    this.map.on('click', (event) => this.onClick(event));
    this.draw = new DrawTool(this);
    await new Promise((resolve) => {
      if (this.map.loaded()) resolve();
      else this.map.once('load', resolve);
    });
    this.map.addImage('hatch-outside', hatchImage(STATUS_COLORS.conflict));
    this.map.addImage('hatch-conditional', hatchImage(STATUS_COLORS.conditional));
    this.addOverlayLayers();
    this.draw.install();
    this.renderLayerList();
  }

  makeProjector(config) {
    const proj4 = window.proj4;
    if (!proj4 || !config.analysis_crs_proj4) return null;
    try {
      const converter = proj4('EPSG:4326', config.analysis_crs_proj4);
      return (lon, lat) => converter.forward([lon, lat]);
    } catch {
      return null;
    }
  }

  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }

  onMapError(event) {
    // A tile that failed is retried by MapLibre and shows as a gap; anything else is worth telling.
    if (event?.sourceId || event?.tile) return;
    const message = event?.error?.message || String(event?.error || '');
    if (message && !/abort/i.test(message)) this.showNotice(t('map_failed', {message}));
  }

  buildStyle() {
    const style = {version: 8, sources: {}, layers: [{id: 'background', type: 'background',
      paint: {'background-color': BACKGROUND}}]};
    const base = [];
    const outline = [];
    const top = [];
    const ordered = [...this.layers].filter((layer) => layer.tiles)
      .sort((a, b) => (ROLE_ORDER[a.role] ?? 0) - (ROLE_ORDER[b.role] ?? 0));
    for (const layer of ordered) {
      style.sources[layer.key] = {
        type: 'vector',
        tiles: layer.tiles.tiles,
        minzoom: layer.tiles.minzoom,
        maxzoom: layer.tiles.maxzoom,
        bounds: layer.tiles.bounds,
      };
      for (const styleLayer of styleLayers(layer)) {
        const {stage, ...spec} = styleLayer;
        spec.layout = {visibility: this.hidden.has(layer.key) ? 'none' : 'visible'};
        (stage === 'outline' ? outline : stage === 'top' ? top : base).push(spec);
        layer.styleIds = [...(layer.styleIds || []), spec.id];
      }
    }
    style.layers.push(...base, ...outline, ...top);
    return style;
  }

  initialBounds() {
    const boxes = this.layers.map((layer) => layer.tiles?.bounds).filter(Boolean);
    if (boxes.length === 0) return [[73, 18], [135, 54]];
    return [
      [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1]))],
      [Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))],
    ];
  }

  /** Sources and layers for the check (site, overlaps, outside parts), the search results and the drawing. */
  addOverlayLayers() {
    const empty = {type: 'FeatureCollection', features: []};
    this.map.addSource('check', {type: 'geojson', data: empty});
    this.map.addSource('results', {type: 'geojson', data: empty, promoteId: 'id'});
    const role = (name) => ['==', ['get', 'role'], name];
    const status = (...names) => ['in', ['get', 'status'], ['literal', names]];
    // An overlap matters for a constraint layer; for a zone what matters is the part of the site outside it.
    const constraints = ['in', ['get', 'layer'],
      ['literal', this.layers.filter((layer) => layer.role === 'constraint').map((layer) => layer.key)]];
    const statusColor = ['match', ['get', 'status'], 'conflict', STATUS_COLORS.conflict,
      'conditional', STATUS_COLORS.conditional, STATUS_COLORS.review];
    this.map.addLayer({id: 'results-fill', type: 'fill', source: 'results', paint: {
      'fill-color': RESULT_COLOR,
      'fill-opacity': ['case', ['boolean', ['feature-state', 'hover'], false], 0.75, 0.35]}});
    this.map.addLayer({id: 'results-line', type: 'line', source: 'results', paint: {
      'line-color': ['case', ['boolean', ['feature-state', 'hover'], false], '#3e2723', RESULT_COLOR],
      'line-width': ['case', ['boolean', ['feature-state', 'hover'], false], 3, 1.6]}});
    this.map.addLayer({id: 'check-outside', type: 'fill', source: 'check',
      filter: ['all', role('outside'), status('conflict', 'conditional')],
      paint: {'fill-pattern': ['match', ['get', 'status'], 'conditional', 'hatch-conditional', 'hatch-outside']}});
    this.map.addLayer({id: 'check-outside-line', type: 'line', source: 'check',
      filter: ['all', role('outside'), status('conflict', 'conditional')],
      paint: {'line-color': statusColor, 'line-width': 1.5, 'line-dasharray': [2, 1]}});
    this.map.addLayer({id: 'check-overlap', type: 'fill', source: 'check',
      filter: ['all', role('overlap'), constraints, status('conflict', 'conditional', 'review')],
      paint: {'fill-color': statusColor, 'fill-opacity': 0.6}});
    this.map.addLayer({id: 'check-overlap-line', type: 'line', source: 'check',
      filter: ['all', role('overlap'), constraints, status('conflict', 'conditional', 'review')],
      paint: {'line-color': statusColor, 'line-width': 2.5}});
    this.map.addLayer({id: 'check-site-halo', type: 'line', source: 'check', filter: role('site'),
      paint: {'line-color': '#ffffff', 'line-width': 7, 'line-opacity': 0.9}});
    this.map.addLayer({id: 'check-site', type: 'line', source: 'check', filter: role('site'),
      paint: {'line-color': SITE_COLOR, 'line-width': 3}});
    this.map.on('mousemove', 'results-fill', (event) => {
      if (this.draw?.active) return;
      const id = event.features?.[0]?.properties?.id;
      if (id != null) this.resultHandlers?.onHover?.(id);
    });
    this.map.on('mouseleave', 'results-fill', () => this.resultHandlers?.onHover?.(null));
  }

  interactiveLayerIds() {
    const ids = this.layers.filter((layer) => !this.hidden.has(layer.key)).flatMap((layer) => layer.styleIds || []);
    return [...ids, 'check-overlap', 'check-outside', 'results-fill'].filter((id) => this.map.getLayer(id));
  }

  onPointerMove(event) {
    this.lastPointer = event.lngLat;
    this.renderCoords(event.lngLat);
    if (this.draw?.active) return;
    const hit = this.map.queryRenderedFeatures(event.point, {layers: this.interactiveLayerIds()});
    this.map.getCanvas().style.cursor = hit.length ? 'pointer' : '';
  }

  renderCoords(lngLat) {
    this.coords.replaceChildren();
    if (!lngLat) {
      this.coords.append(h('span', {class: 'muted', text: t('coords_hint')}));
      return;
    }
    const {lng, lat} = lngLat;
    this.coords.append(
      h('span', {}, h('b', {text: `${t('coords_lonlat')} `}),
        `${Math.abs(lng).toFixed(6)}°${lng >= 0 ? 'E' : 'W'}  ${Math.abs(lat).toFixed(6)}°${lat >= 0 ? 'N' : 'S'}`),
    );
    if (this.projector) {
      const [x, y] = this.projector(lng, lat);
      if (Number.isFinite(x) && Number.isFinite(y)) {
        this.coords.append(h('span', {}, h('b', {text: `${this.config.analysis_crs} `}),
          `E ${coordinate(x)}  N ${coordinate(y)}`));
      }
    }
  }

  onClick(event) {
    if (this.draw?.active) return;
    const features = this.map.queryRenderedFeatures(event.point, {layers: this.interactiveLayerIds()});
    const result = features.find((f) => f.layer.id === 'results-fill');
    if (result) {
      this.resultHandlers?.onSelect?.(result.properties.id);
      return;
    }
    const seen = new Set();
    const unique = features.filter((feature) => {
      const key = `${feature.source}/${feature.id ?? JSON.stringify(feature.properties)}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (unique.length === 0) {
      this.popup?.remove();
      return;
    }
    this.openPopup(event.lngLat, unique);
  }

  openPopup(lngLat, features) {
    this.popup?.remove();
    const [first, ...others] = features;
    const body = h('div', {class: 'popup'}, this.featureCard(first));
    if (others.length) {
      body.append(h('p', {class: 'muted popup-more', text: t('popup_more', {n: others.length})}),
        h('ul', {class: 'popup-others'}, others.slice(0, 4).map((feature) => {
          const layer = this.layers.find((l) => l.key === feature.source);
          const id = layer?.reported_fields?.[0] ? feature.properties?.[layer.reported_fields[0]] : feature.properties?.id;
          return h('li', {}, layer ? swatch(layer) : null,
            `${layer ? pick(layer, 'name') : feature.properties?.layer_name_zh || feature.source} ${id ?? ''}`);
        })));
    }
    this.popup = new this.maplibregl.Popup({maxWidth: '340px', focusAfterOpen: true, closeButton: true})
      .setLngLat(lngLat).setDOMContent(body).addTo(this.map);
  }

  featureCard(feature) {
    if (feature.source === 'check') {
      const p = feature.properties;
      return h('section', {class: 'feature-card'},
        h('h3', {}, h('span', {class: `status-dot status-${p.status}`}), `${p.layer_name_zh || p.layer} ${p.id || ''}`),
        h('p', {text: `${named('status_names', p.status, p.status)} · ${ha(p.area_ha)} ${t('unit_ha')} · `
          + `${mu(p.area_mu)} ${t('unit_mu')}`}));
    }
    const layer = this.layers.find((l) => l.key === feature.source);
    const props = feature.properties || {};
    const idField = layer?.reported_fields?.[0];
    const rows = Object.entries(props).map(([key, value]) => h('tr', {},
      h('th', {scope: 'row', text: key}), h('td', {text: typeof value === 'number' ? num(value, 4) : String(value)})));
    const card = h('section', {class: 'feature-card'},
      h('h3', {}, layer ? swatch(layer) : null, layer ? pick(layer, 'name') : feature.source),
      h('table', {class: 'attrs'}, h('tbody', {}, rows)));
    if (layer?.role === 'parcels' && idField && props[idField] != null && this.parcelActions) {
      const id = String(props[idField]);
      card.append(h('div', {class: 'button-row'},
        h('button', {type: 'button', class: 'secondary small', text: t('popup_detail'),
          onclick: () => this.parcelActions.detail(id)}),
        h('button', {type: 'button', class: 'secondary small', text: t('popup_use'),
          onclick: () => {
            this.popup?.remove();
            this.parcelActions.check(id);
          }})));
    }
    return card;
  }

  /** Re-render text that depends on the language. */
  refreshText() {
    this.renderLayerList();
    this.renderLegendExtra();
    this.renderCoords(this.lastPointer);
    this.draw?.renderBanner();
  }

  renderLayerList() {
    this.layerList.replaceChildren();
    for (const layer of this.layers) {
      const drawable = Boolean(layer.tiles) && this.available;
      const id = `layer-toggle-${layer.key}`;
      const checkbox = h('input', {type: 'checkbox', id, checked: !this.hidden.has(layer.key) && layer.role !== 'raster',
        disabled: !drawable, 'data-layer': layer.key});
      checkbox.addEventListener('change', () => this.setLayerVisible(layer.key, checkbox.checked));
      const meta = layer.role === 'raster'
        ? t('layer_raster')
        : layer.version == null
        ? t('layer_not_loaded')
        : t('layer_version', {version: layer.version, date: dateOnly(layer.loaded_at)});
      const count = layer.feature_count != null ? t('layer_count', {count: num(layer.feature_count, 0)}) : null;
      this.layerList.append(h('li', {class: [drawable ? '' : 'disabled', layer.role === 'raster' ? 'raster' : '']
        .join(' ').trim(), title: count},
        h('label', {for: id}, checkbox, swatch(layer), h('span', {class: 'layer-name', text: pick(layer, 'name'), title: pick(layer, 'name')})),
        h('span', {class: 'layer-meta', text: meta}),
        count ? h('span', {class: 'visually-hidden', text: count}) : null));
    }
    if (this.catalogue) {
      this.layersMeta.replaceChildren(h('span', {text: t('layers_engine', {engine: this.catalogue.engine})}), ' · ',
        h('span', {text: t('layers_crs', {crs: this.catalogue.crs})}));
    }
  }

  setLayerVisible(key, visible) {
    if (visible) this.hidden.delete(key);
    else this.hidden.add(key);
    if (!this.available) return;
    const layer = this.layers.find((l) => l.key === key);
    for (const id of layer?.styleIds || []) {
      if (this.map.getLayer(id)) this.map.setLayoutProperty(id, 'visibility', visible ? 'visible' : 'none');
    }
  }

  renderLegendExtra() {
    this.legendExtra.replaceChildren();
    const items = [];
    if (this.overlays.has('check')) {
      items.push(['site', SITE_COLOR, t('legend_site')], ['overlap', STATUS_COLORS.conflict, t('legend_conflict')],
        ['overlap', STATUS_COLORS.conditional, t('legend_conditional')],
        ['overlap', STATUS_COLORS.review, t('legend_review')], ['hatch', STATUS_COLORS.conflict, t('legend_outside')]);
    }
    if (this.overlays.has('results')) items.push(['fill', RESULT_COLOR, t('legend_results')]);
    for (const [kind, color, label] of items) {
      const mark = h('span', {class: `swatch swatch-${kind}`, 'aria-hidden': 'true'});
      mark.style.setProperty('--swatch', color);
      this.legendExtra.append(h('li', {}, mark, h('span', {text: label})));
    }
  }

  padding() {
    const panel = document.getElementById('layers-panel');
    const right = panel && !panel.classList.contains('collapsed') ? panel.offsetWidth + 24 : 40;
    return {top: 50, bottom: 50, left: 50, right: Math.min(right, this.container.clientWidth / 3)};
  }

  /** Frame a GeoJSON object. */
  fit(geojson, {maxZoom = 17, margin = 0} = {}) {
    if (!this.available) return;
    const box = boundsOf(geojson);
    if (!box) return;
    const dx = (box[2] - box[0]) * margin;
    const dy = (box[3] - box[1]) * margin;
    this.map.fitBounds([[box[0] - dx, box[1] - dy], [box[2] + dx, box[3] + dy]],
      {padding: this.padding(), maxZoom, duration: 400});
  }

  /** Show a check's one-map GeoJSON (site, overlaps, outside parts) and frame the site. */
  showCheck(collection) {
    this.overlays.add('check');
    this.renderLegendExtra();
    if (!this.available) return;
    this.map.getSource('check').setData(collection);
    const site = collection.features.filter((f) => f.properties?.role === 'site');
    this.fit({type: 'FeatureCollection', features: site.length ? site : collection.features}, {maxZoom: 16, margin: 0.45});
  }

  clearCheck() {
    this.overlays.delete('check');
    this.renderLegendExtra();
    if (this.available) this.map.getSource('check').setData({type: 'FeatureCollection', features: []});
  }

  /** Show search results; handlers.onHover(id|null) and handlers.onSelect(id) keep the list in step. */
  showResults(collection, handlers) {
    this.resultHandlers = handlers;
    this.overlays.add('results');
    this.renderLegendExtra();
    for (const marker of this.resultMarkers) marker.remove();
    this.resultMarkers = [];
    if (!this.available) return;
    this.hoveredResult = null;
    this.map.getSource('results').setData(collection);
    for (const feature of collection.features) {
      const box = boundsOf(feature);
      if (!box) continue;
      const id = feature.properties.id;
      const el = h('button', {type: 'button', class: 'rank-marker', text: String(feature.properties.rank),
        'aria-label': `${feature.properties.rank}. ${feature.properties.name || id}`, tabindex: '-1'});
      el.addEventListener('mouseenter', () => handlers.onHover?.(id));
      el.addEventListener('mouseleave', () => handlers.onHover?.(null));
      el.addEventListener('click', (event) => {
        event.stopPropagation();
        handlers.onSelect?.(id);
      });
      const marker = new this.maplibregl.Marker({element: el})
        .setLngLat([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]).addTo(this.map);
      marker.resultId = id;
      this.resultMarkers.push(marker);
    }
    if (collection.features.length) this.fit(collection, {maxZoom: 15});
  }

  clearResults() {
    this.overlays.delete('results');
    this.renderLegendExtra();
    for (const marker of this.resultMarkers) marker.remove();
    this.resultMarkers = [];
    if (this.available) this.map.getSource('results').setData({type: 'FeatureCollection', features: []});
  }

  /** Highlight one result (or none) on the map. */
  highlightResult(id) {
    if (!this.available) return;
    if (this.hoveredResult != null) {
      this.map.setFeatureState({source: 'results', id: this.hoveredResult}, {hover: false});
    }
    this.hoveredResult = id;
    if (id != null) this.map.setFeatureState({source: 'results', id}, {hover: true});
    for (const marker of this.resultMarkers) {
      marker.getElement().classList.toggle('active', marker.resultId === id);
    }
  }

  /** Zoom to one result. */
  zoomToResult(collection, id) {
    const feature = collection?.features.find((f) => f.properties.id === id);
    if (feature) this.fit(feature, {maxZoom: 16, margin: 1});
  }
}
