// The public JSON API, and its problem+json answers turned into words a planner understands.
import {lang, t} from './i18n.js';

const KEY_STORAGE = 'sitecheck.apiKey';

/** An answer of the API that is not a success: the RFC 9457 problem with its stable code. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || (status ? `HTTP_${status}` : 'NETWORK');
  }
}

/** The API key kept in this browser, or ''. */
export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || '';
  } catch {
    return '';
  }
}

/** Keep (or with '' forget) the API key. */
export function setApiKey(value) {
  try {
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // private mode: nothing is kept
  }
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? {...extra, Authorization: `Bearer ${key}`} : extra;
}

async function send(url, options) {
  let response;
  try {
    response = await fetch(url, {...options, headers: headers(options.headers), credentials: 'same-origin'});
  } catch {
    throw new ApiError(0, null);
  }
  if (response.ok) return response;
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    problem = null;
  }
  throw new ApiError(response.status, problem);
}

/** GET a JSON document. */
export async function getJson(url) {
  return (await send(url, {method: 'GET', headers: {Accept: 'application/json'}})).json();
}

/** POST a JSON body and read JSON back. */
export async function postJson(url, body) {
  const response = await send(url, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', Accept: 'application/json'},
    body: JSON.stringify(body),
  });
  return response.json();
}

/** POST a multipart form (file upload) and read JSON back. */
export async function postForm(url, form) {
  return (await send(url, {method: 'POST', headers: {Accept: 'application/json'}, body: form})).json();
}

/** POST a JSON body and read the answer as a file (Blob) with its suggested name. */
export async function postForBlob(url, body, fallbackName) {
  const response = await send(url, {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(body),
  });
  return {blob: await response.blob(), name: fileName(response, fallbackName)};
}

/** GET a file (Blob) with its suggested name. */
export async function getBlob(url, fallbackName) {
  const response = await send(url, {method: 'GET'});
  return {blob: await response.blob(), name: fileName(response, fallbackName)};
}

function fileName(response, fallback) {
  const disposition = response.headers.get('Content-Disposition') || '';
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (encoded) {
    try {
      return decodeURIComponent(encoded[1]);
    } catch {
      return fallback;
    }
  }
  const plain = /filename="([^"]+)"/i.exec(disposition);
  return plain ? plain[1] : fallback;
}

/** Save a Blob as a download with the given file name. */
export function saveBlob({blob, name}) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * The lines to show for an error: the API's own sentence in the page's language (detail_zh / detail), where it
 * happened, and the stable code in small print.
 */
export function describeError(error) {
  if (!(error instanceof ApiError)) return {lines: [String(error?.message || error)], code: ''};
  if (error.status === 0) return {lines: [t('error_network')], code: ''};
  const problem = error.problem;
  const lines = [];
  const sentence = lang() === 'zh' ? problem.detail_zh || problem.detail : problem.detail || problem.detail_zh;
  lines.push(sentence || problem.title || `HTTP ${error.status}`);
  if (error.code === 'AUTH_REQUIRED' || error.status === 401) lines.push(t('error_auth'));
  const where = problem.location;
  if (where && typeof where === 'object') {
    const line = where.line != null ? t('error_line', {line: where.line}) : null;
    // The API's sentence often names the line itself already.
    if (line && !lines[0].includes(String(where.line))) lines.push(line);
    if (where.x != null && where.y != null) {
      let text = t('error_point', {x: where.x, y: where.y});
      if (where.lon != null && where.lat != null) text += t('error_lonlat', {lon: where.lon, lat: where.lat});
      lines.push(text);
    }
  }
  if (problem.details?.check_id) lines.push(t('error_record', {id: problem.details.check_id}));
  return {lines, code: error.code};
}
