// A small polygon drawing tool: click to add boundary points, double-click (or Enter, or Finish) to close the
// ring, Backspace to undo a point, Esc to cancel. It only collects lon/lat; the service checks the polygon.
import {t} from './i18n.js';

const EMPTY = {type: 'FeatureCollection', features: []};
const COLOR = '#0d47a1';
const SAME_POINT_PX = 4;

export class DrawTool {
  constructor(view) {
    this.view = view;
    this.map = view.map;
    this.points = [];
    this.active = false;
    this.polygon = null;
    this.hover = null;
    this.listeners = [];
    this.onKey = (event) => this.handleKey(event);
  }

  /** Add the drawing's source and layers (after the style has loaded). */
  install() {
    this.map.addSource('draw', {type: 'geojson', data: EMPTY});
    this.map.addLayer({id: 'draw-fill', type: 'fill', source: 'draw', filter: ['==', ['geometry-type'], 'Polygon'],
      paint: {'fill-color': COLOR, 'fill-opacity': 0.15}});
    this.map.addLayer({id: 'draw-line', type: 'line', source: 'draw', filter: ['!=', ['geometry-type'], 'Point'],
      paint: {'line-color': COLOR, 'line-width': 2.5, 'line-dasharray': [2, 1]}});
    this.map.addLayer({id: 'draw-points', type: 'circle', source: 'draw', filter: ['==', ['geometry-type'], 'Point'],
      paint: {'circle-radius': 5, 'circle-color': '#ffffff', 'circle-stroke-color': COLOR, 'circle-stroke-width': 2}});
    this.map.on('click', (event) => this.active && this.addPoint(event));
    this.map.on('dblclick', (event) => {
      if (!this.active) return;
      event.preventDefault();
      this.finish();
    });
    this.map.on('mousemove', (event) => {
      if (!this.active) return;
      this.hover = [event.lngLat.lng, event.lngLat.lat];
      this.render();
    });
  }

  /** Be told when the drawing changes: callback({points, polygon, active}). */
  onChange(callback) {
    this.listeners.push(callback);
  }

  notify() {
    for (const callback of this.listeners) {
      callback({points: this.points.length, polygon: this.polygon, active: this.active});
    }
  }

  start() {
    this.points = [];
    this.polygon = null;
    this.active = true;
    this.view.popup?.remove();
    this.map.doubleClickZoom.disable();
    this.map.getCanvas().style.cursor = 'crosshair';
    window.addEventListener('keydown', this.onKey);
    this.renderBanner();
    this.render();
    this.notify();
  }

  stop() {
    this.active = false;
    this.hover = null;
    this.map.doubleClickZoom.enable();
    this.map.getCanvas().style.cursor = '';
    window.removeEventListener('keydown', this.onKey);
    this.renderBanner();
  }

  addPoint(event) {
    const last = this.points.at(-1);
    if (last) {
      const previous = this.map.project(last);
      if (Math.hypot(previous.x - event.point.x, previous.y - event.point.y) < SAME_POINT_PX) return;
    }
    this.points.push([round(event.lngLat.lng), round(event.lngLat.lat)]);
    this.render();
    this.notify();
  }

  undo() {
    if (this.polygon) {
      this.polygon = null;
      this.active = true;
      this.start();
      return;
    }
    this.points.pop();
    this.render();
    this.notify();
  }

  /** Close the ring; fewer than 3 points leaves the drawing open and says why. */
  finish() {
    if (this.points.length < 3) {
      this.view.banner.textContent = t('draw_need_three');
      return false;
    }
    this.polygon = {type: 'Polygon', coordinates: [[...this.points, this.points[0]]]};
    this.stop();
    this.render();
    this.notify();
    return true;
  }

  clear() {
    this.points = [];
    this.polygon = null;
    if (this.active) this.stop();
    this.render();
    this.notify();
  }

  handleKey(event) {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
    if (event.key === 'Escape') {
      event.preventDefault();
      this.clear();
    } else if (event.key === 'Backspace') {
      event.preventDefault();
      this.undo();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      this.finish();
    }
  }

  renderBanner() {
    const banner = this.view.banner;
    banner.hidden = !this.active;
    if (this.active) banner.textContent = t('draw_banner');
  }

  render() {
    const features = [];
    if (this.polygon) {
      features.push({type: 'Feature', properties: {}, geometry: this.polygon});
    } else if (this.points.length) {
      const ring = this.hover ? [...this.points, this.hover] : [...this.points];
      if (ring.length >= 3) {
        features.push({type: 'Feature', properties: {}, geometry: {type: 'Polygon', coordinates: [[...ring, ring[0]]]}});
      } else if (ring.length === 2) {
        features.push({type: 'Feature', properties: {}, geometry: {type: 'LineString', coordinates: ring}});
      }
    }
    for (const point of this.points) features.push({type: 'Feature', properties: {}, geometry: {type: 'Point', coordinates: point}});
    this.map.getSource('draw')?.setData({type: 'FeatureCollection', features});
  }
}

function round(value) {
  return Math.round(value * 1e8) / 1e8;
}
