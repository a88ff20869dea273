// The investment officer's panel: the search API's filters, the ranked results as a list kept in step with the
// map, each result's score breakdown and reason, parcel details, CSV export, and "check this parcel".
import {describeError, getJson, postForBlob, postJson, saveBlob} from './api.js';
import {h, ha, metres, mu, num, setChildren} from './format.js';
import {lang, named, pick, t} from './i18n.js';

const PAGE_SIZE = 20;
const CRITERION_COLORS = ['#1565c0', '#00897b', '#7cb342', '#f9a825', '#8e24aa', '#6d4c41', '#546e7a'];
const STATUS_DEFAULT = '可招商';

const $ = (id) => document.getElementById(id);
const numberOrNull = (id) => {
  const value = $(id).value.trim();
  return value === '' ? null : Number(value);
};

export class InvestorPanel {
  constructor({mapView, checkParcel}) {
    this.mapView = mapView;
    this.checkParcel = checkParcel;
    this.options = null;
    this.page = null;
    this.collection = null;
    this.body = null;
    this.selected = null;
    this.error = null;
    this.detail = null;
  }

  /** Fill the form from GET /v1/parcels/options. */
  async init() {
    $('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.search(0);
    });
    $('search-form').addEventListener('reset', () => setTimeout(() => this.renderOptions(), 0));
    $('search-csv').addEventListener('click', () => this.exportCsv());
    $('results-prev').addEventListener('click', () => this.search(Math.max(0, (this.page?.offset || 0) - PAGE_SIZE)));
    $('results-next').addEventListener('click', () => this.page?.next_offset != null && this.search(this.page.next_offset));
    try {
      this.options = await getJson('/v1/parcels/options');
    } catch (error) {
      this.showError(error);
      return null;
    }
    this.renderOptions();
    return this.options;
  }

  renderOptions() {
    const options = this.options;
    if (!options) return;
    const chips = (container, name, items, checked) => {
      const previous = new Set([...container.querySelectorAll('input:checked')].map((input) => input.value));
      container.replaceChildren(...items.map(([value, label], i) => {
        const id = `${name}-${i}`;
        return h('label', {class: 'chip', for: id},
          h('input', {type: 'checkbox', id, name, value,
            checked: previous.size ? previous.has(value) : checked(value)}), h('span', {text: label}));
      }));
    };
    chips($('search-districts'), 'district', options.districts.map((d) => [d.code, d.name || d.code]), () => false);
    chips($('search-statuses'), 'status', options.statuses.map((s) => [s, s]), (value) => value === STATUS_DEFAULT);
    const select = (id, values) => {
      const el = $(id);
      const chosen = el.value;
      el.replaceChildren(h('option', {value: '', text: t('any')}), ...values.map(([value, label]) => h('option', {value, text: label})));
      el.value = chosen;
    };
    select('search-industry', options.industries.map((v) => [v, v]));
    select('search-park', options.parks.map((v) => [v, v]));
    select('search-transit-kind', options.transit_kinds.filter((k) => k.stop).map((k) => [k.kind, k.kind]));
    const codes = $('use-codes');
    codes.replaceChildren(...options.land_use_crosswalk.map((entry) => h('option', {value: entry.code,
      label: `${entry.name_zh}（${entry.scheme}）`})));
    const weights = $('search-weights');
    const previous = Object.fromEntries([...weights.querySelectorAll('input')].map((input) => [input.name, input.value]));
    weights.replaceChildren(...options.criteria.map((criterion, i) => {
      const id = `weight-${criterion.key}`;
      const swatch = h('span', {class: 'crit-dot', 'aria-hidden': 'true'});
      swatch.style.setProperty('--swatch', CRITERION_COLORS[i % CRITERION_COLORS.length]);
      return h('div', {class: 'weight'},
        h('label', {for: id, title: criterion.formula}, swatch, pick(criterion, 'name')),
        h('input', {type: 'number', id, name: criterion.key, min: '0', max: '1', step: '0.05', inputmode: 'decimal',
          value: previous[criterion.key] ?? options.default_weights[criterion.key] ?? 0}));
    }));
  }

  criterionColor(key) {
    const index = this.options?.criteria.findIndex((c) => c.key === key) ?? -1;
    return CRITERION_COLORS[(index < 0 ? 6 : index) % CRITERION_COLORS.length];
  }

  /** The JSON body of POST /v1/parcels/search from the form. */
  filters() {
    const checked = (name) => [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((input) => input.value);
    const single = (id) => ($(id).value ? [$(id).value] : []);
    const body = {
      district: checked('district'),
      status: checked('status'),
      use: $('search-use').value.split(/[,，、\s]+/).map((code) => code.trim()).filter(Boolean),
      industry: single('search-industry'),
      park: single('search-park'),
      transit_kind: single('search-transit-kind'),
      min_mu: numberOrNull('search-min-mu'),
      max_mu: numberOrNull('search-max-mu'),
      target_mu: numberOrNull('search-target-mu'),
      max_transit_m: numberOrNull('search-transit'),
      min_far: numberOrNull('search-min-far'),
      min_invest: numberOrNull('search-min-invest'),
      min_tax: numberOrNull('search-min-tax'),
      far: numberOrNull('search-far'),
      include_nonclean: $('search-nonclean').checked,
    };
    const weights = Object.fromEntries([...$('search-weights').querySelectorAll('input')]
      .map((input) => [input.name, Number(input.value || 0)]));
    const defaults = this.options?.default_weights || {};
    if (Object.entries(weights).some(([key, value]) => value !== (defaults[key] ?? 0))) body.weights = weights;
    return Object.fromEntries(Object.entries(body).filter(([, value]) =>
      value != null && value !== false && !(Array.isArray(value) && value.length === 0)));
  }

  setBusy(busy) {
    $('search-submit').disabled = busy;
    $('search-submit').textContent = busy ? t('searching') : t('search_submit');
    $('search-busy').hidden = !busy;
  }

  /** Run the search: the ranked JSON page for the list, the same page as GeoJSON for the map. */
  async search(offset) {
    const body = {...(offset ? this.body : this.filters()), limit: PAGE_SIZE, offset};
    this.setBusy(true);
    this.clearError();
    try {
      const [page, collection] = await Promise.all([
        postJson('/v1/parcels/search', body),
        postJson('/v1/parcels/search?f=geojson', body),
      ]);
      this.body = body;
      this.page = page;
      this.collection = collection;
      this.selected = null;
      this.renderResults();
      this.mapView.showResults(collection, {
        onHover: (id) => this.hover(id),
        onSelect: (id) => this.select(id, {fromMap: true}),
      });
      $('search-csv').disabled = page.total === 0;
    } catch (error) {
      this.showError(error);
    } finally {
      this.setBusy(false);
    }
  }

  async exportCsv() {
    if (!this.body) return;
    try {
      // Without limit and offset the CSV holds every match, not just the page on screen.
      const {limit, offset, ...filters} = this.body;
      saveBlob(await postForBlob('/v1/parcels/search?f=csv', filters, 'parcels.csv'));
    } catch (error) {
      this.showError(error);
    }
  }

  showError(error) {
    this.error = error;
    const {lines, code} = describeError(error);
    setChildren($('search-error'), h('p', {}, h('b', {text: t('error_prefix')}), lines[0]),
      ...lines.slice(1).map((line) => h('p', {text: line})),
      code ? h('p', {class: 'error-code', text: t('error_code', {code})}) : null);
    $('search-error').hidden = false;
  }

  clearError() {
    this.error = null;
    $('search-error').hidden = true;
  }

  refreshText() {
    this.renderOptions();
    this.setBusy(false);
    if (this.page) this.renderResults();
    if (this.detail) this.renderDetail(this.detail);
    if (this.error) this.showError(this.error);
  }

  renderResults() {
    const page = this.page;
    $('results').hidden = false;
    const from = page.count ? page.offset + 1 : 0;
    $('results-count').textContent = t('results_count', {total: page.total, from, to: page.offset + page.count});
    const applied = page.ranking?.applied_weights || {};
    const weightText = Object.entries(applied).map(([key, weight]) => {
      const criterion = page.ranking.criteria?.find((c) => c.key === key);
      return `${criterion ? pick(criterion, 'name') : key} ${(weight * 100).toFixed(0)}%`;
    }).join('，');
    $('results-ranking').textContent = [page.default_filter === 'clean' ? t('default_filter_clean') : '',
      weightText ? t('ranking_weights', {weights: weightText}) : ''].filter(Boolean).join(' ');
    const list = $('results-list');
    list.replaceChildren(...page.items.map((item) => this.resultItem(item)));
    if (!page.items.length) list.append(h('li', {class: 'empty', text: t('results_none')}));
    const pages = Math.max(1, Math.ceil(page.total / page.limit));
    $('results-page').textContent = t('page_of', {page: Math.floor(page.offset / page.limit) + 1, pages});
    $('results-prev').disabled = page.prev_offset == null;
    $('results-next').disabled = page.next_offset == null;
  }

  resultItem(item) {
    const bar = h('div', {class: 'scorebar', role: 'img',
      'aria-label': `${t('score')} ${item.score.toFixed(3)}`});
    for (const part of item.breakdown) {
      const segment = h('span', {title: `${pick(part, 'name')} ${part.contribution.toFixed(3)}`});
      segment.style.width = `${Math.max(0, part.contribution) * 100}%`;
      segment.style.background = this.criterionColor(part.criterion);
      bar.append(segment);
    }
    const compliance = item.compliance;
    const verdict = h('span', {class: `verdict-chip verdict-${compliance.verdict}`,
      text: lang() === 'zh' ? compliance.verdict_zh : named('verdict', compliance.verdict, compliance.verdict)});
    const problems = [...(compliance.problems || []), ...(compliance.notes || [])];
    const transit = item.transit
      ? `${t('nearest_transit')} ${item.transit.name || item.transit.id}（${item.transit.kind || ''}）${metres(item.transit.distance_m)} ${t('metres')}`
      : null;
    const li = h('li', {class: 'result', dataset: {id: item.id}, tabindex: '-1'},
      h('div', {class: 'result-head'},
        h('span', {class: 'rank', text: String(item.rank)}),
        h('div', {class: 'result-title'},
          h('h3', {text: item.name || item.id}),
          h('p', {class: 'muted', text: [item.id, item.district?.name, item.park].filter(Boolean).join(' · ')})),
        h('div', {class: 'score'}, h('b', {text: item.score.toFixed(3)}), h('span', {class: 'muted', text: t('score')}))),
      bar,
      h('p', {class: 'facts'},
        h('span', {}, h('b', {text: `${mu(item.area_mu)} ${t('unit_mu')}`}), ` (${ha(item.area_ha)} ${t('unit_ha')})`),
        h('span', {text: `${item.land_use?.name_zh || ''} ${item.land_use?.code || ''}`.trim()}),
        h('span', {class: `supply supply-${item.status_en || ''}`, text: lang() === 'zh' ? item.status : item.status_en || item.status}),
        verdict),
      h('p', {class: 'facts muted'},
        transit ? h('span', {text: transit}) : null,
        item.far_max != null ? h('span', {text: `${t('far_range')} ${num(item.far_min)}–${num(item.far_max)}`}) : null,
        item.invest_wan_per_mu != null ? h('span', {text: `${t('invest')} ${num(item.invest_wan_per_mu)} ${t('wan_per_mu')}`}) : null,
        item.tax_wan_per_mu != null ? h('span', {text: `${t('tax')} ${num(item.tax_wan_per_mu)} ${t('wan_per_mu')}`}) : null),
      h('p', {class: 'reason', text: pick(item, 'reason')}),
      problems.length ? h('ul', {class: 'problems'}, problems.map((p) => h('li', {},
        h('span', {class: `status status-${p.status}`, text: lang() === 'zh' ? p.status_zh : named('status_names', p.status, p.status)}),
        ` ${pick(p, 'name')}：${pick(p, 'reason')}`))) : null,
      h('details', {class: 'breakdown'},
        h('summary', {text: t('breakdown')}),
        h('table', {},
          h('thead', {}, h('tr', {}, h('th', {scope: 'col', text: t('criterion')}), h('th', {scope: 'col', class: 'num', text: t('weight')}),
            h('th', {scope: 'col', class: 'num', text: t('value')}), h('th', {scope: 'col', class: 'num', text: t('contribution')}))),
          h('tbody', {}, item.breakdown.map((part) => {
            const dot = h('span', {class: 'crit-dot', 'aria-hidden': 'true'});
            dot.style.setProperty('--swatch', this.criterionColor(part.criterion));
            return h('tr', {}, h('td', {}, dot, pick(part, 'name')), h('td', {class: 'num', text: part.weight.toFixed(2)}),
              h('td', {class: 'num', text: part.value.toFixed(3)}), h('td', {class: 'num', text: part.contribution.toFixed(3)}));
          })))),
      h('div', {class: 'button-row'},
        h('button', {type: 'button', class: 'secondary small', text: t('locate'), onclick: () => this.select(item.id)}),
        h('button', {type: 'button', class: 'secondary small', text: t('details'), onclick: () => this.openDetail(item.id)}),
        h('button', {type: 'button', class: 'secondary small', text: t('use_as_site'), onclick: () => this.checkParcel(item.id)})));
    li.addEventListener('mouseenter', () => this.hover(item.id));
    li.addEventListener('mouseleave', () => this.hover(null));
    li.addEventListener('focusin', () => this.hover(item.id));
    li.addEventListener('click', (event) => {
      if (event.target.closest('button, summary, details')) return;
      this.select(item.id);
    });
    return li;
  }

  items() {
    return [...$('results-list').querySelectorAll('li.result')];
  }

  hover(id) {
    for (const li of this.items()) li.classList.toggle('hover', li.dataset.id === id);
    this.mapView.highlightResult(id ?? this.selected);
  }

  select(id, {fromMap = false} = {}) {
    this.selected = id;
    for (const li of this.items()) li.classList.toggle('selected', li.dataset.id === id);
    const li = this.items().find((el) => el.dataset.id === id);
    if (li) li.scrollIntoView({block: 'nearest', behavior: 'smooth'});
    this.mapView.highlightResult(id);
    if (!fromMap) this.mapView.zoomToResult(this.collection, id);
  }

  async openDetail(id) {
    try {
      this.detail = await getJson(`/v1/parcels/${encodeURIComponent(id)}`);
    } catch (error) {
      this.showError(error);
      return;
    }
    this.renderDetail(this.detail);
    $('parcel-detail').focus();
  }

  renderDetail(parcel) {
    const box = $('parcel-detail');
    box.hidden = false;
    const layers = parcel.compliance?.layers || [];
    const byKind = parcel.transit?.by_kind || [];
    setChildren(box,
      h('div', {class: 'detail-head'},
        h('h2', {id: 'detail-title', text: `${t('detail_title')} ${parcel.id}`}),
        h('button', {type: 'button', class: 'icon-button', 'aria-label': t('close'), text: '×',
          onclick: () => {
            box.hidden = true;
            this.detail = null;
          }})),
      h('p', {class: 'project-name', text: parcel.name || ''}),
      h('p', {class: 'facts'},
        h('span', {}, h('b', {text: `${mu(parcel.area_mu)} ${t('unit_mu')}`}), ` (${ha(parcel.area_ha)} ${t('unit_ha')})`),
        h('span', {text: `${parcel.land_use?.name_zh || ''} ${parcel.land_use?.code || ''}`}),
        h('span', {text: lang() === 'zh' ? parcel.status : parcel.status_en || parcel.status}),
        parcel.district ? h('span', {text: parcel.district.name || parcel.district.code}) : null),
      h('h3', {text: t('compliance')}),
      h('table', {class: 'findings compact'}, h('tbody', {}, layers.map((layer) => h('tr', {},
        h('th', {scope: 'row', text: pick(layer, 'name')}),
        h('td', {}, h('span', {class: `status status-${layer.status}`,
          text: lang() === 'zh' ? layer.status_zh : named('status_names', layer.status, layer.status)})),
        h('td', {class: 'reason-cell', text: pick(layer.rule, 'reason')}))))),
      byKind.length ? h('h3', {text: t('transit_by_kind')}) : null,
      byKind.length ? h('ul', {class: 'plain-list'}, byKind.map((stop) =>
        h('li', {text: `${stop.kind}：${stop.name || stop.id} ${metres(stop.distance_m)} ${t('metres')}`}))) : null,
      parcel.neighbours?.length ? h('h3', {text: t('neighbours')}) : null,
      parcel.neighbours?.length ? h('ul', {class: 'plain-list'}, parcel.neighbours.slice(0, 8).map((n) =>
        h('li', {text: `${n.id} ${n.name || ''} · ${mu(n.area_mu)} ${t('unit_mu')} · ${n.status || ''} · `
          + `${n.adjacent ? t('adjacent') : `${t('gap')} ${metres(n.gap_m)} ${t('metres')}`}`}))) : null,
      h('details', {},
        h('summary', {text: t('attributes')}),
        h('table', {class: 'attrs'}, h('tbody', {}, Object.entries(parcel.attributes || {}).map(([key, value]) =>
          h('tr', {}, h('th', {scope: 'row', text: key}), h('td', {text: value == null ? '–' : String(value)})))))),
      h('div', {class: 'button-row'},
        h('button', {type: 'button', class: 'primary small', text: t('use_as_site'), onclick: () => this.checkParcel(parcel.id)})),
    );
  }
}
