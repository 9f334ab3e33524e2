#!/usr/bin/env node
// A fleet of tablets in one process, for scripts/bench: each is a real PouchDB client with its own
// LevelDB folder and its own device credential. All create their surveys offline, push through the gateway at the same moment,
// then keep pulling until every survey's review and its household's tier are on the tablet.
//
//   node scripts/fleet.js --server URL --dir D --password P --tablets 200 --per-tablet 50
//        --users gw_0,gw_1,…  (one per tablet, in order; each user's first village is used)
//
// With --paced N --pace-s S, afterwards each tablet also records N surveys one every S seconds and
// pushes each at once (a working day's rhythm rather than everyone at the same moment).
//
// Prints one JSON object: push window, per-survey lag to its review and tier on the tablet (ms; in
// the burst from the end of the tablet's push, in the paced phase from the start of the survey's
// push; split at the review's updated_at — when the worker took up its page — into processing and
// delivery), the docs the live pulls wrote, failures.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const http = require('http');
const PouchDB = require('pouchdb');

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

// A tablet signs in once, as the field app does (days before a burst, in the field): the password
// is exchanged for the device's own credential, and every sync request carries that credential
// (a digest, no password hash), never the password.
async function enrol(server, user, password, device) {
  const res = await fetch(server + '/api/v1/devices', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: user, password, device_id: device, label: 'fleet' }),
  });
  if (!res.ok) throw new Error(`sign-in ${user}: ${res.status} ${await res.text()}`);
  return res.json();
}

// Each simulated tablet keeps its connections alive, as the field app's browser does: node-fetch's
// default is a new connection and "Connection: close" for every request, which no tablet sends.
function remote(server, db, user, password, agent) {
  return new PouchDB(`${server}/sync/${db}`, {
    auth: { username: user, password }, skip_setup: true,
    fetch: (url, opts) => PouchDB.fetch(url, { ...opts, agent }),
  });
}

const PICKER_RELEASE = '2026120102'; // from this form version on, the household is picked from a list

function survey(village, household, user, device, seq, version) {
  const now = new Date().toISOString();
  const picked = version >= PICKER_RELEASE ? { is_new: 'no', household_pick: household } : {};
  return {
    _id: 'submission:' + crypto.randomUUID(), type: 'submission', form_id: 'damage_survey', form_version: version,
    village_code: village, household_id: household, household_base_version: 0, submitted_by: user,
    device_id: device, device_seq: seq, started_at: now, completed_at: now,
    data: {
      village_code: village, household_id: household, surveyor: user, survey_date: now.slice(0, 10), consent: 'yes',
      event_id: `${village.slice(0, 9)}-bench`, disaster_type: 'flood', disaster_date: now.slice(0, 10), deaths: 0,
      missing: 0, injured_serious: 0, injured_minor: 1, main_labour_lost: 'no', relocated: 'none',
      house_damage: ['none', 'minor', 'severe', 'collapsed'][seq % 4], rooms_damaged: seq % 4, only_dwelling: 'yes',
      safe_shelter: seq % 3 ? 'yes' : 'no', crop_area_mu: 3, crop_loss_band: 'p10_30', crops_main_income: 'no',
      livestock_lost: 0, water_cut_days: seq % 10, direct_loss_yuan: 1000 * (seq % 7), income_drop_pct: 10,
      urgent_needs: 'food', ...picked,
    },
  };
}

(async () => {
  const a = args();
  const server = a.server.replace(/\/$/, '');
  const users = a.users.split(',');
  const tablets = parseInt(a.tablets, 10);
  const perTablet = parseInt(a['per-tablet'], 10);
  const version = a.version;
  fs.mkdirSync(a.dir, { recursive: true });
  const fleet = [];
  for (let t = 0; t < tablets; t++) {
    const user = users[t % users.length];
    const device = await enrol(server, user, a.password, `fleet-${t}`);
    const village = device.sync.databases.find((name) => name.startsWith('fp_v_')).slice('fp_v_'.length);
    // The tablet's copy of its village (live pull) and its outbox of surveys (push): kept apart, so
    // a push reads only the surveys, not every doc pulled since the last push (with one database
    // and a push filter, 200 simulated tablets spent ~75 s in one Node thread re-reading pulled docs).
    const db = new PouchDB(path.join(a.dir, `tablet-${t}`));
    const outbox = new PouchDB(path.join(a.dir, `outbox-${t}`));
    const docs = [];
    for (let i = 0; i < perTablet; i++) {
      const household = `${village}-${String(1 + ((t * perTablet + i) % 2000)).padStart(4, '0')}`;
      docs.push(survey(village, household, user, `fleet-${t}`, i + 1, version));
    }
    await outbox.bulkDocs(docs);
    fleet.push({ t, user, village, db, outbox, docs, done: false, settle: () => {}, tiered: new Map(),
      remote: remote(server, `fp_v_${village}`, user, device.password, new http.Agent({ keepAlive: true })) });
  }
  const failures = [];
  // A request PouchDB lets escape (no retry of its own) counts as a failure, not a crash of the fleet.
  process.on('unhandledRejection', (err) => { failures.push(`unhandled: ${err && (err.message || err)}`); });
  const describe = (err) => {
    const text = err && (err.message || err.reason || err.error);
    return typeof text === 'string' && text ? `${err.status || ''} ${text}` : JSON.stringify(err);
  };
  const pacedPushes = []; // ms each paced push took
  let pulledDocs = 0; // docs the tablets' live pulls wrote locally, all phases
  let pullErrors = 0; // live pulls that failed a request and backed off (each delays its tablet)
  const deadline = () => Date.now() + 1000 * parseFloat(a.timeout || '900');

  // A tablet's live pull (long-poll through the gateway, as a real tablet syncs), watching its own
  // database until every waited-for survey has its review and its household doc carries a tier.
  // `waiting`: survey uuid -> {household, pushedAt}; each survey's lag is split at the moment the
  // worker wrote its review (review.updated_at, same machine clock) into processing and delivery.
  const watch = (tab, waiting, out) => new Promise((resolve) => {
    const reviewed = new Map(); // survey uuid -> its review
    const tiered = tab.tiered; // household id -> the newest version seen with a tier (kept across phases)
    const pull = tab.db.replicate.from(tab.remote, { live: true, retry: true, batch_size: 500 });
    pull.on('change', (info) => { pulledDocs += info.docs_written || 0; });
    pull.on('paused', (err) => { if (err) pullErrors += 1; }); // a failed request: PouchDB backs off, then retries
    const feed = tab.db.changes({ live: true, since: 'now', include_docs: true });
    const finish = () => { pull.cancel(); feed.cancel(); clearTimeout(timer); resolve(); };
    const settle = () => {
      const now = Date.now();
      for (const [u, w] of waiting) {
        const review = reviewed.get(u);
        // the household doc must be at least at the version this survey made (the review says which)
        const need = review && review.household ? review.household.version : 0;
        if (w.pushedAt !== undefined && review && tiered.has(w.household) && tiered.get(w.household) >= need) {
          const at = Date.parse(review.updated_at);
          out.push({ total: now - w.pushedAt, processing: at - w.pushedAt, delivery: now - at });
          waiting.delete(u);
        }
      }
      if (!waiting.size && tab.done) finish();
    };
    tab.settle = settle;
    feed.on('change', (change) => {
      const doc = change.doc || {};
      if (doc._id.startsWith('review:') && waiting.has(doc._id.slice(7))) reviewed.set(doc._id.slice(7), doc);
      if (doc._id.startsWith('household:') && doc.tier) {
        tiered.set(doc.household_id, Math.max(doc.version || 0, tiered.get(doc.household_id) || 0));
      }
      settle();
    });
    const timer = setTimeout(() => {
      failures.push(`${tab.t}: ${waiting.size} surveys without a tier on the tablet`);
      finish();
    }, Math.max(0, deadline() - Date.now()));
  });
  // A push, tried again (as a tablet's sync does) before it counts as failed.
  const push = async (tab) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await tab.outbox.replicate.to(tab.remote, { batch_size: 100 });
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  };

  // Burst: every tablet pushes its surveys at the same moment, then pulls (as it would after a push).
  const started = Date.now();
  const burst = [];
  const watching = [];
  await Promise.all(fleet.map(async (tab) => {
    try { await push(tab); } catch (err) { failures.push(`${tab.t}: ${describe(err)}`); }
    const pushedAt = Date.now();
    const waiting = new Map(tab.docs.map((d) => [d._id.slice('submission:'.length), { household: d.household_id, pushedAt }]));
    tab.done = true;
    watching.push(watch(tab, waiting, burst));
  }));
  const pushMs = Date.now() - started;
  await Promise.all(watching);
  const totalMs = Date.now() - started;

  // Paced: afterwards each tablet records --paced surveys one every --pace-s seconds (random start)
  // and pushes each at once, as tablets do through a working day; lag per survey from its push.
  const paced = [];
  const perPaced = parseInt(a.paced || '0', 10);
  const paceMs = 1000 * parseFloat(a['pace-s'] || '30');
  if (perPaced > 0) {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    await Promise.all(fleet.map(async (tab) => {
      const waiting = new Map();
      tab.done = false;
      const watched = watch(tab, waiting, paced);
      await sleep(Math.random() * paceMs);
      for (let i = 0; i < perPaced; i++) {
        const household = tab.docs[i % tab.docs.length].household_id;
        const doc = survey(tab.village, household, tab.user, `fleet-${tab.t}`, perTablet + i + 1, version);
        const entry = { household };
        waiting.set(doc._id.slice('submission:'.length), entry);
        await tab.outbox.put(doc);
        const sentAt = Date.now(); // the grid worker presses "send": lag counts the push too
        try { await push(tab); } catch (err) { failures.push(`${tab.t}: ${describe(err)}`); }
        pacedPushes.push(Date.now() - sentAt);
        entry.pushedAt = sentAt;
        tab.settle();
        if (i + 1 < perPaced) await sleep(paceMs);
      }
      tab.done = true;
      tab.settle();
      await watched;
    }));
  }

  const summary = (rows, key) => {
    const xs = rows.map((r) => r[key]).sort((x, y) => x - y);
    const pick = (q) => xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] : null;
    return { p50: pick(0.5), p95: pick(0.95), max: xs.length ? xs[xs.length - 1] : null };
  };
  const lagOf = (rows) => ({ ...summary(rows, 'total'), processing: summary(rows, 'processing'), delivery: summary(rows, 'delivery') });
  process.stdout.write(JSON.stringify({
    ok: failures.length === 0, tablets, per_tablet: perTablet, submissions: tablets * perTablet,
    push_ms: pushMs, lag_ms: lagOf(burst), total_ms: totalMs, pulled_docs: pulledDocs, pull_errors: pullErrors,
    paced: perPaced > 0 ? {
      per_tablet: perPaced, pace_s: paceMs / 1000, submissions: paced.length, lag_ms: lagOf(paced),
      push_ms: summary(pacedPushes.map((ms) => ({ ms })), 'ms'),
    } : null,
    failures: failures.slice(0, 10),
  }) + '\n');
})().catch((err) => { process.stdout.write(JSON.stringify({ ok: false, error: String(err.stack || err) }) + '\n'); });
