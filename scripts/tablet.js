#!/usr/bin/env node
// Tablet simulator: a grid worker's tablet on the real PouchDB client.
//
// Each call is one thing a tablet does; its local databases live in --dir (LevelDB) between
// calls, so a test can log in, pull, go "offline", create surveys, and sync later, in any order.
// Every call prints one JSON object on stdout.
//
//   node scripts/tablet.js login  --dir D --server http://127.0.0.1:8080 --user gw_wang --password P [--device tab-1]
//   node scripts/tablet.js enrol  --dir D --payload JSON --device tab-1
//                                                          the scanned enrolment QR: exchange its code once for
//                                                          this tablet's own credential, then log in with it
//   node scripts/tablet.js pull   --dir D [--db NAME]     replicate fp_forms and village dbs down
//   node scripts/tablet.js create --dir D --village V --count N [--form damage_survey] [--household H] [--spread 12]
//                                 [--values JSON]         offline: writes local docs only, no network; a survey of
//                                                          a household on the tablet starts from its current version
//   node scripts/tablet.js edit   --dir D --id submission:U --values JSON
//                                                          offline: a new revision of a submission (e.g. returned)
//   node scripts/tablet.js push   --dir D [--village V]    replicate submissions up through the gateway
//   node scripts/tablet.js wait-reviews --dir D [--timeout 60]
//                                                          pull until every own submission revision has its review
//   node scripts/tablet.js get    --dir D --db NAME --id ID  one local doc (with _conflicts)
//   node scripts/tablet.js status --dir D
//
// push and pull take --target BASE_URL --target-auth USER:PASS [--target-prefix P] to bypass the gateway
// (benchmarks; the prefix is the deployment's database prefix, FANGPIN_DB_PREFIX).
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const http = require('http');
const https = require('https');
const PouchDB = require('pouchdb');

function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const key = a.slice(2);
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) { args[key] = true; } else { args[key] = next; i++; }
    } else {
      args._.push(a);
    }
  }
  return args;
}

// Exit only once stdout has drained: process.exit() would cut a large result at the pipe buffer.
function finish(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

function fail(message) {
  finish({ ok: false, error: message }, 1);
  throw new Stop();
}
class Stop extends Error {}

function statePath(dir) { return path.join(dir, 'tablet.json'); }
function loadState(dir) {
  if (!fs.existsSync(statePath(dir))) fail(`not logged in: no ${statePath(dir)} (run login first)`);
  return JSON.parse(fs.readFileSync(statePath(dir), 'utf8'));
}
function saveState(dir, state) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(statePath(dir), JSON.stringify(state, null, 2), { mode: 0o600 });
}

function localDb(dir, name) {
  fs.mkdirSync(path.join(dir, 'db'), { recursive: true });
  return new PouchDB(path.join(dir, 'db', name));
}
// Connections kept alive, as the field app's browser does (node-fetch's default closes each one).
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
const keptAlive = (url, opts) => PouchDB.fetch(url, { ...opts, agent: agents[new URL(url).protocol] });

function remoteDb(state, name) {
  return new PouchDB(state.sync.url + name, {
    auth: { username: state.user, password: state.password }, skip_setup: true, fetch: keptAlive,
  });
}

async function login(args) {
  for (const k of ['dir', 'server', 'user', 'password']) if (!args[k]) fail(`--${k} is required`);
  const server = args.server.replace(/\/$/, '');
  const res = await fetch(server + '/api/v1/session', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: args.user, password: args.password }),
  });
  const body = await res.json();
  if (!res.ok) fail(`login refused (${res.status}): ${body.reason}`);
  const state = {
    server, user: args.user, password: args.password, device: args.device || `tab-${args.user}`,
    sync: body.sync, villages: body.villages, device_seq: 0,
  };
  if (fs.existsSync(statePath(args.dir))) state.device_seq = loadState(args.dir).device_seq || 0;
  saveState(args.dir, state);
  return { ok: true, user: state.user, villages: state.villages, databases: state.sync.databases };
}

async function enrol(args) {
  for (const k of ['dir', 'payload', 'device']) if (!args[k]) fail(`--${k} is required`);
  let payload;
  try { payload = JSON.parse(args.payload); } catch (err) { fail(`--payload is not the QR's JSON: ${err.message}`); }
  const server = payload.server.replace(/\/$/, '');
  const res = await fetch(server + '/api/v1/enrol', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: payload.token, device_id: args.device, label: args.label || args.device }),
  });
  const body = await res.json();
  if (!res.ok) fail(`enrolment refused (${res.status}): ${body.reason}`);
  const result = await login({ ...args, server, user: body.user, password: body.password });
  return { ...result, enrolled: true };
}

async function replicate(from, to) {
  const started = process.hrtime.bigint();
  const result = await PouchDB.replicate(from, to, { batch_size: 200, batches_limit: 5 });
  const elapsed_ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { elapsed_ms, docs_read: result.docs_read, docs_written: result.docs_written,
    doc_write_failures: result.doc_write_failures, errors: (result.errors || []).map(String) };
}

// The remote side: the gateway (as a tablet does) or, for benchmarks, --target BASE_URL --target-auth U:P.
function remoteFor(args, state, name) {
  if (!args.target) return remoteDb(state, name);
  const physical = (args['target-prefix'] || '') + name;
  return new PouchDB(args.target.replace(/\/$/, '') + '/' + physical, { auth: parseAuth(args['target-auth']), skip_setup: true, fetch: keptAlive });
}

async function pull(args) {
  const state = loadState(args.dir);
  const out = {};
  const names = args.db ? [String(args.db)] : state.sync.databases;
  for (const name of names) {
    out[name] = await replicate(remoteFor(args, state, name), localDb(args.dir, name));
  }
  return { ok: true, pulled: out };
}

async function push(args) {
  const state = loadState(args.dir);
  const villages = args.village ? [String(args.village)] : state.villages;
  const out = {};
  for (const v of villages) {
    const name = 'fp_v_' + v;
    out[name] = await replicate(localDb(args.dir, name), remoteFor(args, state, name));
  }
  return { ok: true, pushed: out };
}

function parseAuth(text) {
  if (!text) return undefined;
  const i = text.indexOf(':');
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

async function latestForm(dir, formId) {
  const forms = localDb(dir, 'fp_forms');
  const res = await forms.allDocs({ startkey: `form:${formId}:`, endkey: `form:${formId}:\ufff0`, include_docs: true });
  if (!res.rows.length) fail(`form ${formId} is not on this tablet: pull first`);
  return res.rows.map((r) => r.doc).sort((a, b) => (a.version < b.version ? 1 : -1))[0];
}

async function formXml(dir, form) {
  const blob = await localDb(dir, 'fp_forms').getAttachment(form._id, 'xform.xml');
  return Buffer.isBuffer(blob) ? blob.toString('utf8') : String(blob);
}

// Deterministic pseudo-random values per submission so that runs are repeatable.
function rng(seed) {
  let x = crypto.createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}
function pick(r, items) { return items[Math.floor(r() * items.length)]; }
function today() { return new Date().toISOString().slice(0, 10); }

function damageData(r, envelope) {
  const house = pick(r, ['none', 'minor', 'severe', 'collapsed']);
  const data = {
    ...envelope,
    event_id: '500112104-2025-07-flood', disaster_type: pick(r, ['flood', 'geological', 'hail_wind']),
    disaster_date: today(), deaths: 0, missing: 0, injured_serious: Math.floor(r() * 2), injured_minor: Math.floor(r() * 2),
    main_labour_lost: pick(r, ['yes', 'no', 'no', 'no']), relocated: pick(r, ['none', 'centralized', 'dispersed']),
    house_damage: house, safe_shelter: pick(r, ['yes', 'yes', 'no']),
    crop_area_mu: Math.round(r() * 100) / 10, crop_loss_band: pick(r, ['none', 'lt10', 'p10_30', 'p30_80', 'ge80']),
    livestock_pigs: Math.floor(r() * 3), livestock_poultry: Math.floor(r() * 3), water_cut_days: Math.floor(r() * 40),
    direct_loss_yuan: Math.round(r() * 50000), income_drop_pct: Math.floor(r() * 80),
    urgent_needs: pick(r, ['food water', 'shelter', 'cash medical', 'none']),
    can_recover_alone: pick(r, ['yes', 'partly', 'no']), insurance: pick(r, ['house agriculture', 'anti_poverty', 'none']),
    relief_received: pick(r, ['food', 'cash goods', 'none']), loans_due: pick(r, ['yes', 'no', 'no']),
  };
  data.livestock_lost = data.livestock_pigs + data.livestock_poultry;  // the form's total
  if (house !== 'none') {
    const rooms = 1 + Math.floor(r() * 4);
    Object.assign(data, {
      house_structure: pick(r, ['brick_concrete', 'brick_wood', 'earth_wood']), rooms_damaged: rooms,
      rooms_collapsed: house === 'collapsed' ? rooms : 0, rooms_severe: house === 'severe' ? rooms : 0,
      rooms_minor: house === 'minor' ? rooms : 0, only_dwelling: pick(r, ['yes', 'no']),
    });
  }
  if (data.crop_loss_band !== 'none') {
    data.crops_main_income = pick(r, ['yes', 'no']);
    data.crop_affected_mu = data.crop_area_mu;  // 受灾 ⊇ 成灾 ⊇ 绝收, within the sown area
    data.crop_damaged_mu = Math.round(data.crop_area_mu * 5) / 10;
    data.crop_lost_mu = 0;
  }
  return data;
}

// GB 11643: the same household always gets the same head (so two surveys of it agree on who it is).
function idNumber(seed, birth, female) {
  const h = crypto.createHash('sha256').update(seed).digest();
  const serial = (h.readUInt16LE(0) % 450) * 2 + (female ? 2 : 1);
  const body = '500112' + birth.replace(/-/g, '') + String(serial).padStart(3, '0');
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = body.split('').reduce((acc, d, i) => acc + Number(d) * weights[i], 0);
  return body + '10X98765432'[sum % 11];
}

// A household's facts depend on the household only: two surveys of it agree unless told otherwise.
function householdData(r, envelope) {
  const hr = rng(envelope.household_id);
  const year = 1950 + Math.floor(hr() * 40);
  const birth = `${year}-0${1 + Math.floor(hr() * 9)}-1${Math.floor(hr() * 9)}`;
  const spouseBirth = `${year + 1}-0${1 + Math.floor(hr() * 9)}-2${Math.floor(hr() * 9)}`;
  const female = hr() < 0.5;
  const head = idNumber(envelope.household_id, birth, female);
  const spouse = idNumber(envelope.household_id + '/spouse', spouseBirth, !female);
  const member = (name, id, sex, relation, birthDate, labour) => ({ name, id_number: id, sex, relation,
    birth_date: birthDate, health: pick(hr, ['healthy', 'healthy', 'chronic']), labour, school: 'primary',
    medical_insurance: 'yes' });
  const data = {
    ...envelope,
    head_name: pick(hr, ['王', '李', '张', '刘', '陈', '杨']) + pick(hr, ['建国', '秀英', '志强', '玉珍', '德明', '桂兰']),
    head_id_number: head, phone: '13800138000', category: pick(hr, ['lifted', 'monitored', 'ordinary']),
    welfare: pick(hr, ['none', 'dibao', 'pension']), relocated_household: pick(hr, ['no', 'no', 'yes']),
    members: [
      member('户主', head, female ? 'female' : 'male', 'head', birth, pick(hr, ['normal', 'weak'])),
      member('配偶', spouse, female ? 'male' : 'female', 'spouse', spouseBirth, pick(hr, ['normal', 'weak'])),
    ],
    income_wage: Math.round(hr() * 20000), income_business: Math.round(hr() * 10000), income_property: 0,
    income_transfer: Math.round(hr() * 5000), cost_business: Math.round(hr() * 3000),
    housing_grade: pick(hr, ['A', 'B', 'C']), water_quantity_ok: 'yes', water_quality_ok: 'yes', water_access_ok: 'yes',
    risk_types: 'disaster',
  };
  if (data.category === 'monitored') data.monitoring_category = pick(hr, ['unstable_lifted', 'marginal']);
  return data;
}

// The household as this tablet last pulled it (following a merge), or null for one it never saw.
async function currentHousehold(db, id) {
  for (let hops = 0; id && hops < 5; hops++) {
    const doc = await db.get('household:' + id).catch(() => null);
    if (!doc || !doc.merged_into) return doc;
    id = doc.merged_into;
  }
  return null;
}

function parseValues(text) {
  if (!text) return {};
  try { return JSON.parse(text); } catch (err) { fail(`--values must be a JSON object: ${err.message}`); }
}

async function create(args) {
  const state = loadState(args.dir);
  const village = String(args.village || state.villages[0]);
  if (!state.villages.includes(village)) fail(`village ${village} is not assigned to ${state.user}`);
  const formId = args.form || 'damage_survey';
  const form = await latestForm(args.dir, formId);
  const picks = (await formXml(args.dir, form)).includes('household_pick');
  const count = parseInt(args.count || '1', 10);
  const values = parseValues(args.values);
  const db = localDb(args.dir, 'fp_v_' + village);
  const docs = [];
  for (let i = 0; i < count; i++) {
    state.device_seq += 1;
    const uuid = crypto.randomUUID();
    const r = rng(uuid);
    const spread = parseInt(args.spread || '12', 10);  // how many roster households the surveys fall on
    const household = args.household || `${village}-${String(1 + Math.floor(r() * spread)).padStart(4, '0')}`;
    const now = new Date().toISOString();
    const envelope = { village_code: village, household_id: household, surveyor: state.user, survey_date: today(), consent: 'yes' };
    // Forms that pick the household (from the list, or as new) rather than typing its id
    if (picks) Object.assign(envelope, household.startsWith('new-')
      ? { is_new: 'yes', new_household_id: household } : { is_new: 'no', household_pick: household });
    const data = formId === 'household_survey' ? householdData(r, envelope) : damageData(r, envelope);
    // Start from the household's current version: the form is prefilled with what the server knows.
    const current = await currentHousehold(db, household);
    if (current) for (const [k, v] of Object.entries(current.properties || {})) if (k in data) data[k] = v;
    Object.assign(data, values);
    docs.push({
      _id: 'submission:' + uuid, type: 'submission', form_id: formId, form_version: form.version,
      village_code: village, household_id: household, household_base_version: current ? current.version : 0,
      submitted_by: state.user, device_id: state.device, device_seq: state.device_seq,
      started_at: now, completed_at: now, data,
    });
  }
  const res = await db.bulkDocs(docs);
  saveState(args.dir, state);
  const failed = res.filter((x) => x.error);
  if (failed.length) fail(`local write failed: ${JSON.stringify(failed.slice(0, 3))}`);
  return { ok: true, created: docs.map((d) => d._id), village };
}

async function edit(args) {
  const state = loadState(args.dir);
  if (!args.id) fail('--id is required');
  for (const v of state.villages) {
    const db = localDb(args.dir, 'fp_v_' + v);
    const doc = await db.get(args.id).catch(() => null);
    if (!doc) continue;
    state.device_seq += 1;
    const edited = { ...doc, data: { ...doc.data, ...parseValues(args.values) }, device_id: state.device,
      device_seq: state.device_seq, completed_at: new Date().toISOString() };
    const res = await db.put(edited);
    saveState(args.dir, state);
    return { ok: true, id: res.id, rev: res.rev };
  }
  return fail(`${args.id} is not on this tablet`);
}

async function ownSubmissions(dir, state) {
  const out = [];
  for (const v of state.villages) {
    const db = localDb(dir, 'fp_v_' + v);
    const subs = await db.allDocs({ startkey: 'submission:', endkey: 'submission:\ufff0', include_docs: true });
    const ids = subs.rows.filter((r) => r.doc.submitted_by === state.user).map((r) => r.doc);
    const reviews = await db.allDocs({ keys: ids.map((d) => 'review:' + d._id.slice('submission:'.length)), include_docs: true });
    ids.forEach((d, i) => out.push({ village: v, submission: d, review: reviews.rows[i].doc || null }));
  }
  return out;
}

async function waitReviews(args) {
  const state = loadState(args.dir);
  const deadline = Date.now() + 1000 * parseFloat(args.timeout || '60');
  let rounds = 0;
  for (;;) {
    rounds += 1;
    for (const v of state.villages) await replicate(remoteDb(state, 'fp_v_' + v), localDb(args.dir, 'fp_v_' + v));
    const items = await ownSubmissions(args.dir, state);
    const missing = items.filter((x) => !x.review || x.review.submission_rev !== x.submission._rev);
    if (!missing.length || Date.now() > deadline) {
      const states = {};
      items.forEach((x) => { if (x.review) states[x.review.state] = (states[x.review.state] || 0) + 1; });
      return { ok: !missing.length, submissions: items.length, reviewed: items.length - missing.length,
        missing: missing.map((x) => x.submission._id), states, rounds };
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

async function get(args) {
  if (!args.db || !args.id) fail('--db and --id are required');
  const doc = await localDb(args.dir, args.db).get(args.id, { conflicts: true }).catch(() => null);
  return { ok: true, doc };
}

async function status(args) {
  const state = loadState(args.dir);
  const items = await ownSubmissions(args.dir, state);
  const out = { ok: true, user: state.user, device_seq: state.device_seq, databases: {} };
  for (const name of state.sync.databases) {
    const info = await localDb(args.dir, name).info();
    out.databases[name] = { doc_count: info.doc_count, update_seq: info.update_seq };
  }
  out.submissions = items.length;
  // what this device holds of other people's surveys and reviews (the gateway gives it none)
  out.others = 0;
  for (const v of state.villages) {
    const all = await localDb(args.dir, 'fp_v_' + v).allDocs({ include_docs: true });
    out.others += all.rows.filter((r) => /^(submission|review):/.test(r.id) && r.doc.submitted_by !== state.user).length;
  }
  out.reviews = items.filter((x) => x.review).map((x) => ({ id: x.review._id, rev: x.review._rev,
    state: x.review.state, submission_rev: x.review.submission_rev, comments: x.review.comments }));
  return out;
}

const COMMANDS = { login, enrol, pull, push, create, edit, get, 'wait-reviews': waitReviews, status };

(async () => {
  const args = parseArgs(process.argv.slice(2));
  const command = COMMANDS[args._[0]];
  try {
    if (!command) fail(`usage: tablet.js ${Object.keys(COMMANDS).join('|')} --dir DIR …`);
    if (!args.dir) fail('--dir is required');
    const result = await command(args);
    finish(result, result.ok === false ? 2 : 0);
  } catch (err) {
    if (!(err instanceof Stop)) finish({ ok: false, error: String(err && (err.stack || err.message) || err) }, 1);
  }
})();
