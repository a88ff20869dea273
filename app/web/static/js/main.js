// Wires the page: language, modes (planner / investment officer), the map, the two panels.
import {apiKey, getJson, setApiKey} from './api.js';
import {h} from './format.js';
import {applyI18n, lang, onLangChange, setLang, t} from './i18n.js';
import {InvestorPanel} from './investor.js';
import {MapView} from './map.js';
import {PlannerPanel} from './planner.js';

const $ = (id) => document.getElementById(id);
const config = JSON.parse($('sitecheck-config').textContent);

function bindModes(onShow) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const show = (mode, focus = false) => {
    for (const tab of tabs) {
      const selected = tab.dataset.mode === mode;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      $(tab.getAttribute('aria-controls')).hidden = !selected;
      if (selected && focus) tab.focus();
    }
    document.body.dataset.mode = mode;
    onShow?.(mode);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => show(tab.dataset.mode));
    tab.addEventListener('keydown', (event) => {
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) return;
      event.preventDefault();
      show(tabs[(i + step + tabs.length) % tabs.length].dataset.mode, true);
    });
  });
  return show;
}

function bindLanguage() {
  const button = $('lang-toggle');
  const render = () => {
    const toEnglish = lang() === 'zh';
    button.textContent = toEnglish ? 'English' : '中文';
    button.lang = toEnglish ? 'en' : 'zh-CN';
    button.setAttribute('aria-label', toEnglish ? 'Switch to English' : '切换到中文');
  };
  button.addEventListener('click', () => setLang(lang() === 'zh' ? 'en' : 'zh'));
  onLangChange(render);
  render();
}

function bindKeyDialog() {
  const dialog = $('key-dialog');
  const button = $('key-button');
  const render = () => {
    button.textContent = apiKey() ? t('api_key_set') : t('api_key');
  };
  button.addEventListener('click', () => {
    $('key-input').value = apiKey();
    dialog.showModal();
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'save') setApiKey($('key-input').value.trim());
    if (dialog.returnValue === 'clear') setApiKey('');
    render();
  });
  onLangChange(render);
  render();
}

function bindLayersPanel() {
  const panel = $('layers-panel');
  const button = $('layers-toggle');
  button.addEventListener('click', () => {
    const collapsed = panel.classList.toggle('collapsed');
    button.setAttribute('aria-expanded', String(!collapsed));
    button.dataset.i18nAria = collapsed ? 'layers_expand' : 'layers_collapse';
    button.setAttribute('aria-label', t(button.dataset.i18nAria));
    $('layers-body').hidden = collapsed;
  });
}

async function start() {
  applyI18n();
  bindLanguage();
  bindKeyDialog();
  bindLayersPanel();
  const mapView = new MapView({
    container: $('map'),
    notice: $('map-notice'),
    layerList: $('layer-list'),
    legendExtra: $('legend-extra'),
    layersMeta: $('layers-meta'),
    coords: $('coords'),
    banner: $('draw-banner'),
  });
  let catalogue = {engine: '', crs: config.analysis_crs, layers: []};
  try {
    catalogue = await getJson('/v1/layers');
  } catch (error) {
    mapView.showNotice(t('map_failed', {message: error.message}));
  }
  await mapView.init(config, catalogue);
  const showMode = bindModes((mode) => {
    if (mode !== 'planner' && mapView.draw?.active) mapView.draw.stop();
    mapView.map?.resize();
  });
  const planner = new PlannerPanel({config, mapView, catalogue, showMode});
  planner.init();
  const investor = new InvestorPanel({mapView, checkParcel: (id) => planner.checkParcel(id)});
  mapView.parcelActions = {
    check: (id) => planner.checkParcel(id),
    detail: (id) => {
      showMode('investor');
      investor.openDetail(id);
    },
  };
  onLangChange(() => {
    mapView.refreshText();
    planner.refreshText();
    investor.refreshText();
  });
  const options = await investor.init();
  if (options) planner.setUseCodes(options);
  window.sitecheck = {config, map: mapView.map, mapView, planner, investor, showMode};
  document.body.dataset.ready = 'true';
}

start().catch((error) => {
  const notice = $('map-notice');
  notice.replaceChildren(h('b', {text: t('map_failed', {message: error?.message || error})}));
  notice.hidden = false;
  document.body.dataset.ready = 'error';
});
