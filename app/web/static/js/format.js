// Number and date display: the API gives the figures, the page only formats them.
/** 公顷 with 4 decimals, as the reports show them. */
export function ha(value) {
  return value == null ? '–' : Number(value).toFixed(4);
}

/** 亩 with 2 decimals. */
export function mu(value) {
  return value == null ? '–' : Number(value).toFixed(2);
}

/** Square metres with thousands separators and 2 decimals. */
export function m2(value) {
  if (value == null) return '–';
  return Number(value).toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2});
}

/** A share of 0–1 as a percentage with 2 decimals. */
export function pct(share) {
  return share == null ? '–' : `${(Number(share) * 100).toFixed(2)}%`;
}

/** Metres, whole, with separators. */
export function metres(value) {
  if (value == null) return '–';
  return Math.round(Number(value)).toLocaleString('en-US');
}

/** A number with at most `digits` decimals, or '–'. */
export function num(value, digits = 2) {
  if (value == null || value === '') return '–';
  return Number(value).toLocaleString('en-US', {maximumFractionDigits: digits});
}

/** An ISO time as local date and time (YYYY-MM-DD HH:MM). */
export function dateTime(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** An ISO time as a local date (YYYY-MM-DD). */
export function dateOnly(iso) {
  return dateTime(iso).slice(0, 10);
}

/** A byte count for people. */
export function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

/** A projected coordinate with thousands separated by thin spaces (40 511 500.00), as surveyors write them. */
export function coordinate(value, digits = 2) {
  const [whole, fraction] = Number(value).toFixed(digits).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009');
  return fraction ? `${grouped}.${fraction}` : grouped;
}

/** Replace an element's children, leaving out null and false (for conditional parts). */
export function setChildren(el, ...children) {
  el.replaceChildren(...children.flat().filter((child) => child != null && child !== false));
}

/** Make an element with attributes and children (text or nodes); never parses HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
