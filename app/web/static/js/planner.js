// The planner's panel: give a site (upload, draw, paste), set the project facts, read the verdict the service
// returns, see the overlaps on the map, download the documents, reopen recent checks.
import {ApiError, apiKey, describeError, getBlob, getJson, postForm, postJson, saveBlob} from './api.js';
import {bytes, dateTime, h, ha, m2, mu, pct, setChildren} from './format.js';
import {lang, named, pick, t} from './i18n.js';

const RECENT_KEY = 'sitecheck.recentChecks';
const RECENT_MAX = 20;
const PASTE_NAMES = {'': 'coordinates.txt', geojson: 'coordinates.geojson', wkt: 'coordinates.wkt', txt: 'coordinates.txt'};

const $ = (id) => document.getElementById(id);

export class PlannerPanel {
  constructor({config, mapView, catalogue, showMode}) {
    this.config = config;
    this.mapView = mapView;
    this.catalogue = catalogue;
    this.showMode = showMode;
    this.file = null;
    this.result = null;
    this.error = null;
    this.busy = false;
    this.form = $('check-form');
  }

  init() {
    this.fillFacts();
    this.bindMethods();
    this.bindUpload();
    this.bindDraw();
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    $('open-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const id = $('open-id').value.trim();
      if (id) this.open(id);
    });
    for (const id of ['dl-report', 'dl-map', 'dl-txt', 'dl-html']) {
      $(id).addEventListener('click', (event) => this.download(event, $(id)));
    }
    this.renderRecent();
  }

  fillFacts() {
    const analysis = $('crs-analysis-option');
    analysis.value = this.config.analysis_crs;
    this.refreshFacts();
  }

  /** Level and category choices come from the rule set the service runs (in the page config). */
  refreshFacts() {
    $('crs-analysis-option').textContent = t('crs_analysis', {crs: this.config.analysis_crs});
    const fill = (select, items, table, fallback) => {
      const chosen = select.value || fallback;
      select.replaceChildren(...items.map((item) => h('option', {value: item.key,
        text: lang() === 'zh' ? item.name_zh : named(table, item.key, item.key.replaceAll('_', ' '))})));
      select.value = items.some((item) => item.key === chosen) ? chosen : items[0]?.key;
    };
    fill($('project-level'), this.config.levels, 'level_names', 'municipal');
    fill($('project-category'), this.config.categories, 'category_names', 'industrial');
  }

  /** 用地用海 codes offered as suggestions for the project's land use (from the search options). */
  setUseCodes(options) {
    const seen = new Map();
    for (const entry of options?.land_use_crosswalk || []) {
      for (const prefix of entry.prefixes || []) {
        if (prefix.length === 6 && !seen.has(prefix)) seen.set(prefix, entry.name_zh);
      }
    }
    const list = $('plan-use-codes') || h('datalist', {id: 'plan-use-codes'});
    list.replaceChildren(...[...seen].sort().map(([code, name]) => h('option', {value: code, label: name})));
    document.body.append(list);
    $('project-use').setAttribute('list', 'plan-use-codes');
  }

  method() {
    return this.form.querySelector('input[name="method"]:checked').value;
  }

  bindMethods() {
    for (const radio of this.form.querySelectorAll('input[name="method"]')) {
      radio.addEventListener('change', () => {
        for (const panel of this.form.querySelectorAll('.method')) panel.hidden = panel.dataset.method !== radio.value;
        if (radio.value !== 'draw' && this.mapView.draw?.active) this.mapView.draw.stop();
      });
    }
  }

  bindUpload() {
    const input = $('site-file');
    const zone = $('dropzone');
    input.addEventListener('change', () => this.setFile(input.files?.[0] || null));
    for (const name of ['dragenter', 'dragover']) {
      zone.addEventListener(name, (event) => {
        event.preventDefault();
        zone.classList.add('dragging');
      });
    }
    for (const name of ['dragleave', 'drop']) {
      zone.addEventListener(name, () => zone.classList.remove('dragging'));
    }
    // A file dropped anywhere else (the map, say) is taken as the site too, instead of the browser opening it.
    window.addEventListener('dragover', (event) => event.preventDefault());
    window.addEventListener('drop', (event) => {
      event.preventDefault();
      const file = event.dataTransfer?.files?.[0];
      if (!file) return;
      this.showMode('planner');
      this.form.querySelector('input[name="method"][value="upload"]').click();
      this.setFile(file);
    });
  }

  setFile(file) {
    this.file = file;
    $('drop-file').textContent = file ? t('drop_selected', {name: file.name, size: bytes(file.size)}) : '';
    $('dropzone').classList.toggle('has-file', Boolean(file));
  }

  bindDraw() {
    const draw = () => this.mapView.draw;
    const status = $('draw-status');
    const buttons = {start: $('draw-start'), undo: $('draw-undo'), finish: $('draw-finish'), clear: $('draw-clear')};
    if (!this.mapView.available || !draw()) {
      buttons.start.disabled = true;
      status.textContent = t('draw_unavailable');
      return;
    }
    buttons.start.addEventListener('click', () => {
      this.mapView.clearCheck();
      draw().start();
      this.mapView.container.focus?.();
    });
    buttons.undo.addEventListener('click', () => draw().undo());
    buttons.finish.addEventListener('click', () => draw().finish());
    buttons.clear.addEventListener('click', () => draw().clear());
    draw().onChange(({points, polygon, active}) => {
      buttons.undo.disabled = !(active && points > 0) && !polygon;
      buttons.finish.disabled = !(active && points >= 3);
      buttons.clear.disabled = !(points > 0 || polygon);
      status.textContent = polygon ? t('draw_done', {n: points}) : active ? t('draw_points', {n: points}) : '';
    });
  }

  facts() {
    const use = $('project-use').value.trim();
    return {
      name: $('project-name').value.trim(),
      level: $('project-level').value,
      category: $('project-category').value,
      ...(use ? {land_use_code: use} : {}),
    };
  }

  /** Send the site in the chosen way; the service reads, validates and checks it. */
  async submit() {
    if (this.busy) return;
    const method = this.method();
    const facts = this.facts();
    const crs = $('site-crs').value;
    const zone = $('site-zone').value.trim();
    const repair = $('site-repair').checked;
    let request;
    if (method === 'upload') {
      if (!this.file) return this.showError(t('need_file'));
      request = () => postForm('/v1/checks', this.formData(this.file, this.file.name, '', facts, crs, zone, repair));
    } else if (method === 'paste') {
      const text = $('paste-text').value.trim();
      if (!text) return this.showError(t('need_paste'));
      const format = $('paste-format').value;
      const blob = new Blob([text], {type: 'text/plain'});
      request = () => postForm('/v1/checks', this.formData(blob, PASTE_NAMES[format], format, facts, crs, zone, repair));
    } else {
      const polygon = this.mapView.draw?.polygon;
      if (!polygon) return this.showError(t('need_drawing'));
      // Points picked on this map are WGS84 lon/lat (Web Mercator tiles).
      request = () => postJson('/v1/checks', {site: polygon, crs: 'EPSG:4326', repair, project: facts});
    }
    await this.run(request, facts.name);
  }

  formData(blob, filename, format, facts, crs, zone, repair) {
    const form = new FormData();
    form.append('file', blob, filename);
    for (const [key, value] of Object.entries(facts)) form.append(key, value);
    if (format) form.append('format', format);
    if (crs) form.append('crs', crs);
    if (zone) form.append('zone', zone);
    if (repair) form.append('repair', 'true');
    return form;
  }

  /** Check a search result's parcel as the site, with its own land use as the project's. */
  async checkParcel(parcelId) {
    this.showMode('planner');
    this.setBusy(true, t('checking_parcel', {id: parcelId}));
    let parcel;
    try {
      parcel = await getJson(`/v1/parcels/${encodeURIComponent(parcelId)}`);
    } catch (error) {
      this.setBusy(false);
      this.showError(error);
      return;
    }
    this.setBusy(false);
    const categories = this.config.categories.map((item) => item.key);
    const category = categories.includes(parcel.land_use?.category) ? parcel.land_use.category : 'industrial';
    $('project-name').value = `${parcel.name || parcel.id}（${parcel.id}）`;
    $('project-category').value = category;
    $('project-use').value = parcel.land_use?.code || '';
    const facts = this.facts();
    // The parcel's geometry comes as RFC 7946 lon/lat (CGCS2000, as the intake assumes without a CRS).
    await this.run(() => postJson('/v1/checks', {site: parcel.geometry, project: facts}), facts.name);
  }

  async run(request, name) {
    this.setBusy(true, t('checking'));
    this.clearError();
    try {
      const result = await request();
      this.remember({id: result.check_id, name: result.project?.name || name, verdict: result.verdict,
        created_at: result.created_at});
      await this.showResult(result);
    } catch (error) {
      if (error instanceof ApiError && error.problem?.details?.check_id) {
        this.remember({id: error.problem.details.check_id, name, verdict: 'refused', created_at: new Date().toISOString()});
      }
      this.showError(error);
    } finally {
      this.setBusy(false);
    }
  }

  /** Open a stored check by its id (accepted: its verdict; refused: its error). */
  async open(id) {
    this.clearError();
    this.setBusy(true, t('checking'));
    try {
      const record = await getJson(`/v1/checks/${encodeURIComponent(id)}`);
      if (record.accepted && record.result) {
        await this.showResult(record.result);
      } else {
        const error = record.error || {};
        this.result = null;
        $('verdict').hidden = true;
        this.mapView.clearCheck();
        this.showError(new ApiError(422, {code: error.code, detail: error.message_en || error.detail,
          detail_zh: error.message_zh || error.detail_zh, location: error.location, details: {check_id: id}}));
      }
    } catch (error) {
      this.showError(error);
    } finally {
      this.setBusy(false);
    }
  }

  setBusy(busy, label = '') {
    this.busy = busy;
    const button = $('check-submit');
    button.disabled = busy;
    button.textContent = busy ? label || t('checking') : t('check_submit');
    $('check-busy').hidden = !busy;
  }

  showError(error) {
    this.error = error;
    const box = $('check-error');
    const {lines, code} = typeof error === 'string' ? {lines: [error], code: ''} : describeError(error);
    setChildren(box,
      h('p', {class: 'error-title'}, typeof error === 'string' ? null : h('b', {text: t('error_prefix')}), lines[0]),
      ...lines.slice(1).map((line) => h('p', {text: line})),
      code ? h('p', {class: 'error-code', text: t('error_code', {code})}) : null,
    );
    box.hidden = false;
    box.scrollIntoView({block: 'nearest'});
    // A coordinate system the service could not tell: show where to choose one.
    if (error?.code === 'CRS_UNKNOWN' || error?.code === 'CRS_OUT_OF_RANGE') this.form.querySelector('details.advanced').open = true;
  }

  clearError() {
    this.error = null;
    $('check-error').hidden = true;
  }

  async showResult(result) {
    this.result = result;
    this.clearError();
    this.renderResult();
    $('verdict').hidden = false;
    $('verdict').scrollIntoView({block: 'start', behavior: 'smooth'});
    if (this.mapView.draw?.polygon) this.mapView.draw.clear();
    try {
      const collection = await getJson(`/v1/checks/${encodeURIComponent(result.check_id)}/map`);
      this.mapView.showCheck(collection);
    } catch (error) {
      this.showError(error);
    }
  }

  /** Re-render what depends on the language. */
  refreshText() {
    this.refreshFacts();
    if (this.result) this.renderResult();
    if (this.error) this.showError(this.error);
    this.setBusy(this.busy);
    this.setFile(this.file);
    this.renderRecent();
  }

  renderResult() {
    const result = this.result;
    const badge = $('verdict-badge');
    badge.className = `verdict-badge verdict-${result.verdict}`;
    badge.textContent = lang() === 'zh' ? result.verdict_zh : named('verdict', result.verdict, result.verdict);
    const site = result.site;
    const facts = result.project || {};
    setChildren($('verdict-site'),
      facts.name ? h('p', {class: 'project-name', text: facts.name}) : null,
      h('p', {class: 'muted', text: [this.levelName(facts.level), this.categoryName(facts.category),
        facts.land_use_code].filter(Boolean).join(' · ')}),
      h('p', {}, h('span', {class: 'label', text: `${t('site_area')} `}),
        h('b', {class: 'site-ha', text: `${ha(site.area_ha)} ${t('unit_ha')}`}), ` · ${mu(site.area_mu)} ${t('unit_mu')} · ${m2(site.area_m2)} m²`),
      h('p', {class: 'muted', text: `${t('ellipsoidal')} ${ha(site.ellipsoidal_area_ha)} ${t('unit_ha')} · `
        + `${mu(site.ellipsoidal_area_mu)} ${t('unit_mu')}`}),
      this.contextLine(result.context),
    );
    this.renderWarnings(result.warnings || []);
    const body = $('findings').querySelector('tbody');
    body.replaceChildren(...result.layers.flatMap((finding) => this.findingRows(finding)));
    const id = encodeURIComponent(result.check_id);
    $('dl-report').href = `/v1/checks/${id}/report.pdf`;
    $('dl-map').href = `/v1/checks/${id}/map.png`;
    $('dl-txt').href = `/v1/checks/${id}/site.txt`;
    $('dl-txt').setAttribute('download', `${result.check_id}-site.txt`);
    $('dl-html').href = `/v1/checks/${id}/report.html`;
    $('verdict-meta').textContent = t('check_meta', {id: result.check_id, time: dateTime(result.created_at),
      rules: `${result.rule_set?.id ?? ''} ${result.rule_set?.version ?? ''}`.trim(),
      ms: Math.round(result.elapsed_ms)});
  }

  levelName(key) {
    const item = this.config.levels.find((level) => level.key === key);
    return lang() === 'zh' ? item?.name_zh || key : named('level_names', key, key);
  }

  categoryName(key) {
    const item = this.config.categories.find((category) => category.key === key);
    return lang() === 'zh' ? item?.name_zh || key : named('category_names', key, key);
  }

  contextLine(context) {
    if (!context?.length) return null;
    const parts = context.filter((entry) => entry.features?.length).map((entry) => {
      const names = entry.features.slice(0, 4).map((f) => f.name || f.id).join('、');
      const more = entry.features.length > 4 ? ` …（${entry.features.length}）` : '';
      return `${pick(entry, 'name') || entry.layer}：${names}${more}`;
    });
    return parts.length ? h('p', {class: 'muted', text: `${t('context_title')} — ${parts.join('；')}`}) : null;
  }

  renderWarnings(warnings) {
    const box = $('verdict-warnings');
    box.replaceChildren();
    if (!warnings.length) return;
    box.append(h('div', {class: 'alert warning', role: 'note'},
      h('p', {class: 'alert-title', text: t('warnings_title')}),
      h('ul', {}, warnings.map((warning) => h('li', {},
        lang() === 'zh' ? warning.message_zh : warning.message_en,
        h('span', {class: 'error-code', text: ` ${warning.code}`}))))));
  }

  layerColor(key) {
    return this.catalogue.layers.find((layer) => layer.key === key)?.color || '#888';
  }

  findingRows(finding) {
    const status = h('span', {class: `status status-${finding.status}`,
      text: lang() === 'zh' ? finding.status_zh : named('status_names', finding.status, finding.status)});
    const dot = h('span', {class: 'layer-dot', 'aria-hidden': 'true'});
    dot.style.setProperty('--swatch', this.layerColor(finding.layer));
    const figures = h('td', {class: 'figures', colspan: '2'});
    if (finding.slope) {
      figures.append(this.figure(null, t('slope_summary', {mean: finding.slope.mean_deg ?? '–', max: finding.slope.max_deg ?? '–'}),
        null, finding.slope.steep_share));
    } else if (finding.outside) {
      figures.append(
        this.figure(t('inside'), finding.overlap, null, finding.share),
        this.figure(t('outside'), finding.outside, finding.outside.area_m2 > 0 ? 'strong' : '', finding.outside.share),
      );
    } else if (finding.overlap) {
      figures.append(this.figure(null, finding.overlap, finding.overlap.area_m2 > 0 ? 'strong' : '', finding.share));
    } else {
      figures.append(this.figure(null, '–', null, null));
    }
    const main = h('tr', {class: `finding finding-${finding.status}`, dataset: {layer: finding.layer}},
      h('th', {scope: 'row'}, dot, pick(finding, 'name')), h('td', {}, status), figures);
    const rule = finding.rule || {};
    const details = h('details', {class: 'rule-details'},
      h('summary', {text: `${t('rule')} · ${t('policy')}`}),
      h('dl', {},
        h('dt', {text: t('rule')}), h('dd', {text: rule.id || '–'}),
        rule.exception ? [h('dt', {text: t('exception')}), h('dd', {text: rule.exception})] : null,
        h('dt', {text: t('policy')}), h('dd', {}, h('ul', {}, (rule.policy || []).map((p) => h('li', {text: p}))))),
      finding.features?.length ? this.featureTable(finding.features) : null);
    const reason = h('tr', {class: `reason reason-${finding.status}`},
      h('td', {colspan: '4'}, h('p', {text: pick(rule, 'reason')}), details));
    return [main, reason];
  }

  /** One line of figures: an optional label, 公顷 over 亩 (or a text), and the share of the site. */
  figure(label, areas, emphasis, share) {
    const amount = typeof areas === 'string'
      ? h('span', {text: areas})
      : h('span', {}, h('b', {text: `${ha(areas.area_ha)} ${t('unit_ha')}`}),
        h('span', {class: 'muted mu', text: `${mu(areas.area_mu)} ${t('unit_mu')}`}));
    return h('div', {class: `fig ${emphasis || ''}`},
      h('span', {class: 'fig-label', text: label || ''}), amount,
      h('span', {class: 'fig-share', text: share == null ? '' : pct(share)}));
  }

  featureTable(features) {
    return h('table', {class: 'feature-table'},
      h('caption', {text: t('features')}),
      h('tbody', {}, features.map((feature) => h('tr', {},
        h('td', {text: [feature.id, feature.name, feature.kind].filter(Boolean).join(' · ')}),
        h('td', {class: 'num', text: `${ha(feature.overlap?.area_ha)} ${t('unit_ha')}`}),
        h('td', {class: 'num', text: pct(feature.share)}),
        h('td', {text: feature.sliver ? t('sliver') : ''})))));
  }

  /** Downloads are plain links; with an API key they are fetched with it and saved. */
  async download(event, link) {
    if (!this.result || !apiKey()) return;
    event.preventDefault();
    try {
      saveBlob(await getBlob(link.href, link.getAttribute('download') || link.href.split('/').pop()));
    } catch (error) {
      this.showError(error);
    }
  }

  recent() {
    try {
      const items = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
      return Array.isArray(items) ? items.filter((item) => item && typeof item.id === 'string') : [];
    } catch {
      return [];
    }
  }

  remember(entry) {
    const items = [entry, ...this.recent().filter((item) => item.id !== entry.id)].slice(0, RECENT_MAX);
    try {
      localStorage.setItem(RECENT_KEY, JSON.stringify(items));
    } catch {
      // storage full or disabled: the list just does not persist
    }
    this.renderRecent();
  }

  renderRecent() {
    const items = this.recent();
    $('recent-empty').hidden = items.length > 0;
    $('recent-list').replaceChildren(...items.map((item) => {
      const verdict = item.verdict === 'refused' ? t('refused') : named('verdict', item.verdict, item.verdict);
      return h('li', {},
        h('button', {type: 'button', class: 'recent-item', onclick: () => this.open(item.id)},
          h('span', {class: `verdict-chip verdict-${item.verdict}`, text: verdict}),
          h('span', {class: 'recent-name', text: item.name || item.id}),
          h('span', {class: 'recent-meta', text: `${item.id} · ${dateTime(item.created_at)}`})));
    }));
  }
}
