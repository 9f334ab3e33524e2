// The field app: a grid worker's offline tablet. Screens are plain DOM built with textContent
// (nothing the server or a survey holds is ever parsed as HTML); the forms are ODK Web Forms.
import { registerSW } from 'virtual:pwa-register';
import './style.css';
import { authHeader, device, listLocal, localDb, removeLocal, villageDbs, wipe } from './local.js';
import { Sync, pending } from './sync.js';
import { mediaCount, mediaText, parseCsv, refreshMedia } from './forms.js';
import { scan } from './scan.js';
import { STATE_ZH, TIER_ZH, getLang, setLang, t } from './i18n.js';

registerSW({ immediate: true });

const FORMS = ['damage_survey', 'household_survey'];
const FORM_NAME = { damage_survey: '灾情调查', household_survey: '家庭情况调查' };
const formName = (id) => t(FORM_NAME[id] || id);
const DOOR_CARD = 'fangpin:household:';
const PURGE_DAYS = 30; // reviewed surveys older than this leave the device (never the server)
const app = document.getElementById('app');
let dev = null;
let sync = null;
let syncState = { lastSync: null, lastError: null, running: false };
let flash = null;

// -- DOM helpers ------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const both = (zh) => (getLang() === 'en' ? t(zh) : zh);
function beijing(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hour12: false }).format(d);
}
function go(hash) { if (location.hash === hash) render(); else location.hash = hash; }
function say(text, kind = 'ok') { flash = { text, kind }; }

// -- the device's data -------------------------------------------------------------------------
async function villageNames() {
  const rows = parseCsv(await mediaText('damage_survey', 'villages.csv'));
  return Object.fromEntries(rows.map((r) => [r.name, r.label]));
}

async function households() {
  const out = [];
  for (const name of villageDbs(dev)) {
    const res = await localDb(name).allDocs({ startkey: 'household:', endkey: 'household:\ufff0', include_docs: true });
    for (const row of res.rows) if (!row.doc.merged_into) out.push(row.doc);
  }
  return out.sort((a, b) => (a.household_id < b.household_id ? -1 : 1));
}

async function household(id) {
  for (const name of villageDbs(dev)) {
    let doc = await localDb(name).get('household:' + id).catch(() => null);
    for (let hops = 0; doc && doc.merged_into && hops < 5; hops++) doc = await localDb(name).get('household:' + doc.merged_into).catch(() => null);
    if (doc) return doc;
  }
  return null;
}

// The worker's own surveys with the server's review of each (the gateway sends no one else's).
async function ownSurveys() {
  const out = [];
  for (const name of villageDbs(dev)) {
    const db = localDb(name);
    const subs = await db.allDocs({ startkey: 'submission:', endkey: 'submission:\ufff0', include_docs: true });
    const docs = subs.rows.map((r) => r.doc).filter((d) => d.submitted_by === dev.user);
    const reviews = await db.allDocs({ keys: docs.map((d) => 'review:' + d._id.slice('submission:'.length)), include_docs: true });
    docs.forEach((d, i) => out.push({ db: name, submission: d, review: reviews.rows[i].doc || null }));
  }
  return out.sort((a, b) => (a.submission.completed_at < b.submission.completed_at ? 1 : -1));
}

// Returned and not edited since: the review is of the revision the device holds.
const isReturned = (x) => x.review && x.review.state === 'returned' && x.review.submission_rev === x.submission._rev;

function houseNumber(id) { const m = /-(\d{4})$/.exec(id); return m ? m[1] : '—'; }

async function storageBytes() {
  try { return (await navigator.storage.estimate()).usage || 0; } catch { return 0; }
}

// CHT's purging: a reviewed survey (approved or rejected) whose review is older than PURGE_DAYS
// leaves the device with its review (db.purge: no tombstone, nothing replicates); the server keeps
// everything, and the pull does not bring it back (its checkpoint is past them).
async function purge() {
  const cutoff = Date.now() - PURGE_DAYS * 86400000;
  let purged = 0;
  for (const x of await ownSurveys()) {
    if (!x.review || !['approved', 'rejected'].includes(x.review.state)) continue;
    if (x.review.submission_rev !== x.submission._rev) continue;
    if (new Date(x.review.updated_at || x.submission.completed_at).getTime() > cutoff) continue;
    const db = localDb(x.db);
    await db.purge(x.submission._id, x.submission._rev);
    await db.purge(x.review._id, x.review._rev);
    purged += 1;
  }
  return purged;
}

// -- sync, telemetry --------------------------------------------------------------------------
async function telemetry() {
  if (!navigator.onLine || !dev) return;
  const body = { app_version: __APP_VERSION__, last_sync: syncState.lastSync || '', pending: (await pending()).length,
    storage_bytes: await storageBytes(), last_error: syncState.lastError ? syncState.lastError.reason : '',
    resynced_at: dev.resynced_at || '' };
  try {
    const res = await fetch(`/api/v1/devices/${encodeURIComponent(dev.device_id)}/telemetry`, {
      method: 'PUT', headers: { Authorization: authHeader(dev), 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status === 401) { syncState.lastError = { at: new Date().toISOString(), status: 401, reason: t('设备') + ' 401' }; return; }
    const answer = await res.json();
    if (answer.resync) await resync();
  } catch { /* offline: the next round reports */ }
}

// The clerk's resync: push everything first; only an empty outbox lets the village replicas go.
async function resync() {
  if ((await pending()).length) { say(t('服务器要求重新同步，上传完成后将重新下载本村数据。'), 'warn'); return; }
  sync.stop();
  for (const name of dev.databases) { await localDb(name).destroy(); }
  dev = { ...dev, resynced_at: new Date().toISOString() };
  await device.put(dev);
  location.reload();
}

let mediaTimer = null;
async function mediaDone(fetched) {
  if (await mediaCount()) document.body.dataset.media = '1';
  if (fetched && !location.hash.startsWith('#/s/')) render();
}
function refreshSoon() {
  clearTimeout(mediaTimer);
  mediaTimer = setTimeout(() => refreshMedia(dev, FORMS).then(mediaDone).catch(() => null), 800);
}

function startSync() {
  sync = new Sync(dev, (state) => {
    const synced = state.lastSync !== syncState.lastSync;
    syncState = state;
    updateBadge();
    if (synced) { refreshSoon(); if (!location.hash.startsWith('#/s/')) render(); }
  });
  sync.start();
  setInterval(telemetry, 60000);
  setTimeout(telemetry, 3000);
  purge().then((n) => { document.body.dataset.purged = String(n); }).catch((err) => { syncState.lastError = { at: new Date().toISOString(), status: 0, reason: `purge: ${err.message}` }; });
}

window.addEventListener('online', () => { sync && sync.restart(); updateBadge(); telemetry(); });
window.addEventListener('offline', () => updateBadge());

async function updateBadge() {
  const badge = document.getElementById('sync-badge');
  if (!badge) return;
  const count = (await pending()).length;
  const state = !navigator.onLine ? t('离线') : syncState.lastError ? t('同步出错') : syncState.lastSync ? t('同步正常') : t('正在同步');
  badge.textContent = `${state} · ${count} ${t('件待上传')}`;
  badge.dataset.pending = String(count);
  badge.className = 'badge ' + (!navigator.onLine ? 'off' : syncState.lastError ? 'err' : 'on');
}

// A scan button and its camera view (pressed again, it stops): `accept` says whether a code read is
// the kind wanted (true) or why not (shown, and scanning goes on); `found` gets the first accepted.
function scanner(id, label, { accept, found, say, primary = false }) {
  const video = h('video', { class: 'scanner', muted: true, hidden: true });
  let abort = null;
  const button = h('button', { id, class: primary ? 'primary' : null, onclick: async () => {
    say('');
    if (abort) { abort.abort(); return; }
    abort = new AbortController();
    video.hidden = false;
    button.textContent = t('停止扫描');
    try {
      const text = await scan(video, { signal: abort.signal, onText: (read) => {
        const ok = accept(read);
        if (ok !== true) say(ok);
        return ok === true;
      } });
      if (text) await found(text);
    } catch (err) { say(err.message || String(err)); }
    video.hidden = true;
    button.textContent = t(label);
    abort = null;
  } }, t(label));
  return { button, video };
}

// -- enrolment ---------------------------------------------------------------------------------
function newDeviceId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return 'app-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function enrolWith(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.reason || `HTTP ${res.status}`);
  dev = { user: answer.user, device_id: answer.device_id, password: answer.password, databases: answer.sync.databases,
    device_seq: 0, enrolled_at: new Date().toISOString() };
  await device.put(dev);
  startSync();
  refreshMedia(dev, FORMS).then(mediaDone).catch(() => null);
  go('#/');
}

function enrolScreen() {
  const error = h('p', { class: 'error', id: 'enrol-error', role: 'alert' });
  const show = (err) => { error.textContent = err.message || String(err); };
  const deviceId = newDeviceId();
  const payloadOf = (text) => {
    let payload;
    try { payload = JSON.parse(text); } catch { throw new Error(both('这个二维码不是入网码')); }
    if (!payload || payload.fangpin !== 1 || !payload.token) throw new Error(both('这个二维码不是入网码'));
    if (payload.server && new URL(payload.server).origin !== location.origin) throw new Error(both('这个二维码属于另一台服务器'));
    return payload;
  };
  const fromPayload = (text) => enrolWith('/api/v1/enrol',
    { token: payloadOf(text).token, device_id: deviceId, label: navigator.userAgent.slice(0, 80) });
  const camera = scanner('scan-enrol', '扫描入网二维码', {
    primary: true, say: (text) => { error.textContent = text; },
    accept: (text) => { try { payloadOf(text); return true; } catch (err) { return err.message; } },
    found: (text) => fromPayload(text).catch(show),
  });
  const pasted = h('textarea', { id: 'enrol-payload', rows: 3 });
  const name = h('input', { id: 'signin-name', autocomplete: 'username' });
  const password = h('input', { id: 'signin-password', type: 'password', autocomplete: 'current-password' });
  return h('main', { class: 'enrol' },
    h('h1', {}, t('登记这台平板')),
    h('section', {}, camera.button, h('p', { class: 'hint' }, t('由乡镇审核员在“平板”页生成，一次有效。')), camera.video),
    h('section', {}, h('label', { for: 'enrol-payload' }, t('或粘贴二维码内容')), pasted,
      h('button', { id: 'enrol-paste', onclick: () => { error.textContent = ''; Promise.resolve().then(() => fromPayload(pasted.value.trim())).catch(show); } }, t('用二维码内容登记'))),
    h('form', { id: 'signin', onsubmit: (e) => {
      e.preventDefault();
      error.textContent = '';
      if (!navigator.onLine) { show(new Error(both('需要联网才能登记'))); return; }
      const body = { name: name.value.trim(), password: password.value, device_id: deviceId, label: navigator.userAgent.slice(0, 80) };
      password.value = ''; // the password is sent once and forgotten
      enrolWith('/api/v1/devices', body).catch(show);
    } },
    h('h2', {}, t('或用账号密码登录')),
    h('label', {}, t('用户名'), name), h('label', {}, t('密码'), password),
    h('button', { type: 'submit', class: 'primary' }, t('登录')),
    h('p', { class: 'hint' }, t('密码不会保存在平板上，平板只保存自己的设备凭据。'))),
    error);
}

// -- screens -----------------------------------------------------------------------------------
function nav(active) {
  const tab = (hash, label, id) => h('a', { href: hash, id, class: active === hash ? 'active' : '' }, t(label));
  return h('header', {},
    h('div', { class: 'bar' }, h('strong', {}, t('防贫 · 入户调查')),
      h('span', { id: 'sync-badge', class: 'badge' }),
      h('button', { class: 'lang', id: 'lang', onclick: () => { setLang(getLang() === 'en' ? 'zh' : 'en'); render(); } }, getLang() === 'en' ? '中文' : 'English')),
    h('nav', {}, tab('#/', '户列表', 'nav-households'), tab('#/drafts', '草稿', 'nav-drafts'), tab('#/outbox', '待上传', 'nav-outbox'),
      tab('#/returned', '退回', 'nav-returned'), tab('#/status', '同步', 'nav-status')));
}

function tierBadge(tier) {
  return h('span', { class: `tier tier-${tier || 'none'}` }, t(tier ? TIER_ZH[tier] : '未评定'));
}

async function householdsScreen() {
  const [all, villages] = [await households(), await villageNames()];
  const list = h('ul', { class: 'households', id: 'households' });
  const search = h('input', { id: 'search', type: 'search', placeholder: t('搜索户主姓名或门牌号') });
  const count = h('p', { class: 'count', id: 'household-count' });
  const draw = () => {
    const q = search.value.trim();
    const shown = all.filter((d) => !q || (d.properties.head_name || '').includes(q) || houseNumber(d.household_id).includes(q));
    list.replaceChildren(...shown.map((d) => h('li', { 'data-household': d.household_id },
      h('a', { href: `#/h/${encodeURIComponent(d.household_id)}` },
        h('span', { class: 'number' }, houseNumber(d.household_id)),
        h('span', { class: 'head' }, d.properties.head_name || '—'),
        h('span', { class: 'village' }, villages[d.village_code] || d.village_code),
        tierBadge(d.tier),
        h('span', { class: 'deadline' }, d.deadline ? `${t('期限')} ${d.deadline}` : ''),
        h('span', { class: 'task' }, (d.tasks || []).map((x) => (getLang() === 'en' ? x.en : x.zh)).join('；') || (d.version ? '' : t('未调查')))))));
    count.textContent = `${t('共')} ${shown.length} ${t('户')}`;
    if (!shown.length) list.append(h('li', { class: 'empty' }, t('没有找到户')));
  };
  search.addEventListener('input', draw);
  draw();
  const scanError = h('p', { class: 'error', id: 'scan-error', role: 'alert' });
  const camera = scanner('scan-door', '扫门牌', {
    say: (text) => { scanError.textContent = text; },
    accept: (text) => text.startsWith(DOOR_CARD) || both('不是本系统的门牌二维码'),
    found: async (text) => {
      const id = text.slice(DOOR_CARD.length);
      if (await household(id)) go(`#/h/${encodeURIComponent(id)}`); else scanError.textContent = both('这台平板上没有这一户');
    },
  });
  return h('main', {},
    h('div', { class: 'tools' }, search, camera.button,
      h('a', { class: 'button', id: 'new-damage', href: '#/s/damage_survey/new' }, `${t('新户调查')}（${t('灾情调查')}）`),
      h('a', { class: 'button', id: 'new-household', href: '#/s/household_survey/new' }, `${t('新户调查')}（${t('家庭情况调查')}）`)),
    scanError, camera.video, count, list);
}

function stateLabel(x) {
  if (!x.review || x.review.submission_rev !== x.submission._rev) return t('已提交');
  return t(STATE_ZH[x.review.state === 'has_issues' ? 'flagged' : x.review.state] || x.review.state);
}

async function householdScreen(id) {
  const doc = await household(id);
  if (!doc) return h('main', {}, h('p', { class: 'error' }, both('这台平板上没有这一户')));
  const p = doc.properties || {};
  const surveys = (await ownSurveys()).filter((x) => x.submission.household_id === doc.household_id);
  const lang = getLang();
  return h('main', { class: 'household', id: 'household' },
    h('h1', {}, `${houseNumber(doc.household_id)} ${p.head_name || ''}`),
    h('dl', {},
      h('dt', {}, t('风险')), h('dd', { id: 'household-tier' }, tierBadge(doc.tier)),
      doc.deadline ? [h('dt', {}, t('期限')), h('dd', {}, doc.deadline)] : null,
      (doc.rules || []).length ? [h('dt', {}, t('原因')), h('dd', { id: 'household-reasons' }, h('ul', {}, doc.rules.map((r) => h('li', {}, (r.message && (r.message[lang] || r.message.zh)) || r.id))))] : null,
      (doc.tasks || []).length ? [h('dt', {}, t('待办')), h('dd', {}, doc.tasks.map((x) => (lang === 'en' ? x.en : x.zh)).join('；'))] : null,
      (doc.measures || []).length ? [h('dt', {}, t('帮扶措施')), h('dd', { id: 'household-measures' }, doc.measures.map((m) => m[lang] || m.zh || m.id).join('；'))] : null),
    h('div', { class: 'tools' },
      h('a', { class: 'button primary', id: 'start-damage', href: `#/s/damage_survey/${encodeURIComponent(doc.household_id)}` }, t('灾情调查')),
      h('a', { class: 'button', id: 'start-household', href: `#/s/household_survey/${encodeURIComponent(doc.household_id)}` }, t('家庭情况调查'))),
    h('h2', {}, t('本户的调查')),
    h('ul', { class: 'surveys' }, surveys.map((x) => h('li', {}, `${beijing(x.submission.completed_at)} · ${formName(x.submission.form_id)} · ${stateLabel(x)}`))));
}

async function draftsScreen() {
  const drafts = (await listLocal('draft:')).filter((d) => d.user === dev.user);
  return h('main', {}, h('h1', {}, t('草稿')),
    drafts.length ? h('ul', { class: 'drafts', id: 'drafts' }, drafts.map((d) => h('li', { 'data-draft': d._id },
      h('span', {}, `${beijing(d.saved_at)} · ${formName(d.form_id)} · ${d.household_id || t('新户调查')}`),
      h('a', { class: 'button', href: `#/s/${d.form_id}/${encodeURIComponent(d.household_id || 'new')}?draft=${encodeURIComponent(d._id)}` }, t('继续填写')),
      h('button', { onclick: async () => { await removeLocal(d._id); render(); } }, t('删除')))))
      : h('p', { class: 'empty' }, t('没有草稿')));
}

async function outboxScreen() {
  const items = await pending();
  return h('main', {}, h('h1', {}, t('待上传')),
    h('p', { id: 'pending-count', 'data-count': String(items.length) }, `${items.length} ${t('件待上传')}`),
    h('button', { class: 'primary', id: 'sync-now', onclick: () => { sync.restart(); } }, t('立即同步')),
    items.length ? h('ul', { class: 'outbox' }, items.map((e) => h('li', {}, `${beijing(e.saved_at)} · ${formName(e.form_id)} · ${e.household_id}`)))
      : h('p', { class: 'empty' }, t('没有待上传的调查')));
}

async function returnedScreen() {
  const items = (await ownSurveys()).filter(isReturned);
  return h('main', {}, h('h1', {}, t('退回')),
    items.length ? h('ul', { class: 'returned', id: 'returned' }, items.map((x) => {
      const comments = (x.review.comments || []).filter((c) => c.submission_rev === x.submission._rev);
      const last = comments[comments.length - 1] || (x.review.comments || []).slice(-1)[0];
      return h('li', { 'data-submission': x.submission._id },
        h('div', {}, `${beijing(x.submission.completed_at)} · ${formName(x.submission.form_id)} · ${x.submission.household_id}`),
        h('blockquote', { class: 'comment' }, `${t('审核员意见')}：${last ? last.text : ''}`),
        h('a', { class: 'button primary', href: `#/s/${x.submission.form_id}/${encodeURIComponent(x.submission.household_id)}?edit=${encodeURIComponent(x.submission._id)}` }, t('修改并重新提交')));
    })) : h('p', { class: 'empty' }, t('没有被退回的调查')));
}

async function statusScreen() {
  const items = await pending();
  const drafts = (await listLocal('draft:')).length;
  const bytes = await storageBytes();
  const err = syncState.lastError;
  return h('main', { id: 'status' }, h('h1', {}, t('同步')),
    h('dl', {},
      h('dt', {}, t('账号')), h('dd', {}, dev.user),
      h('dt', {}, t('设备')), h('dd', {}, dev.device_id),
      h('dt', {}, t('网络')), h('dd', { id: 'status-network' }, navigator.onLine ? t('在线') : t('离线')),
      h('dt', {}, t('上次同步')), h('dd', { id: 'status-last-sync' }, syncState.lastSync ? beijing(syncState.lastSync) : t('从未同步')),
      h('dt', {}, t('待上传')), h('dd', { id: 'status-pending' }, String(items.length)),
      h('dt', {}, t('最近错误')), h('dd', { id: 'status-error' }, err ? `${beijing(err.at)} ${err.status ? `HTTP ${err.status} ` : ''}${err.reason}` : t('无')),
      h('dt', {}, t('存储')), h('dd', {}, `${(bytes / 1048576).toFixed(1)} MB`),
      h('dt', {}, t('应用版本')), h('dd', {}, `${__APP_VERSION__} · ODK Web Forms ${__WEB_FORMS_VERSION__}`)),
    h('button', { class: 'primary', id: 'sync-now', onclick: () => sync.restart() }, t('立即同步')),
    h('p', { class: 'hint' }, t('退出将删除这台平板上的所有调查数据。')),
    h('button', { class: 'danger', id: 'sign-out', onclick: async () => {
      const unsent = items.length + drafts;
      if (!confirm(unsent ? both('还有未上传的调查或草稿，退出会丢失它们。确定退出吗？') : both('确定退出并清除本机数据吗？'))) return;
      sync.stop();
      await wipe(dev.databases);
      dev = null;
      go('#/');
    } }, t('退出登录')));
}

// -- the router --------------------------------------------------------------------------------
let rendering = 0;
async function render() {
  const ticket = ++rendering;
  const [path, query] = location.hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  let screen;
  if (!dev) screen = enrolScreen();
  else if (path.startsWith('/s/')) {
    const [, , formId, who] = path.split('/');
    // Web Forms and Vue load only when a form opens (from the precache, offline too)
    const { openSurvey } = await import('./survey.js');
    if (ticket !== rendering) return undefined;
    return openSurvey(app, {
      dev, formId, household: decodeURIComponent(who || 'new'), draftId: params.get('draft'), editId: params.get('edit'),
      header: nav(''), done: (message) => { say(message); go(message === t('已保存为草稿') ? '#/drafts' : '#/outbox'); updateBadge(); },
      saveDevice: async (next) => { dev = next; await device.put(dev); }, lookup: household,
    }).then(updateBadge);
  } else if (path.startsWith('/h/')) screen = await householdScreen(decodeURIComponent(path.slice(3)));
  else if (path === '/drafts') screen = await draftsScreen();
  else if (path === '/outbox') screen = await outboxScreen();
  else if (path === '/returned') screen = await returnedScreen();
  else if (path === '/status') screen = await statusScreen();
  else screen = await householdsScreen();
  if (ticket !== rendering) return;
  const notice = flash ? h('p', { class: `flash ${flash.kind}`, id: 'flash', role: 'status' }, flash.text) : null;
  flash = null;
  app.replaceChildren(...(dev ? [nav('#' + (path || '/'))] : []), ...(notice ? [notice] : []), screen);
  updateBadge();
}

window.addEventListener('hashchange', render);

(async () => {
  setLang(getLang());
  dev = await device.get();
  if (dev) { startSync(); mediaDone(0); }
  await render();
  document.body.dataset.ready = '1';
})();

