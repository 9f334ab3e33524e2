#!/usr/bin/env node
// A fleet of tablets in one process, for scripts/bench: each is a real PouchDB client with its own
// LevelDB folder. All create their surveys offline, push through the gateway at the same moment,
// then keep pulling until every survey's review and its household's tier are on the tablet.
//
//   node scripts/fleet.js --server URL --dir D --password P --tablets 200 --per-tablet 50
//        --users gw_0,gw_1,…  (one per tablet, in order; each user's first village is used)
//
// Prints one JSON object: push window, per-survey lag from the end of its tablet's push to the tier
// on the tablet (ms), failures.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const PouchDB = require('pouchdb');

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

async function login(server, user, password) {
  const res = await fetch(server + '/api/v1/me', { headers: { Authorization: basic(user, password) } });
  if (!res.ok) throw new Error(`login ${user}: ${res.status}`);
  return res.json();
}

function basic(user, password) {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

function remote(server, db, user, password) {
  return new PouchDB(`${server}/sync/${db}`, { auth: { username: user, password }, skip_setup: true });
}

function survey(village, household, user, device, seq, version) {
  const now = new Date().toISOString();
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
      urgent_needs: 'food',
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
    const me = await login(server, user, a.password);
    const village = me.villages[0];
    const db = new PouchDB(path.join(a.dir, `tablet-${t}`));
    const docs = [];
    for (let i = 0; i < perTablet; i++) {
      const household = `${village}-${String(1 + ((t * perTablet + i) % 2000)).padStart(4, '0')}`;
      docs.push(survey(village, household, user, `fleet-${t}`, i + 1, version));
    }
    await db.bulkDocs(docs);
    fleet.push({ t, user, village, db, docs, remote: remote(server, `fp_v_${village}`, user, a.password) });
  }
  const started = Date.now();
  const failures = [];
  await Promise.all(fleet.map(async (tab) => {
    try {
      await tab.db.replicate.to(tab.remote, { filter: (d) => d._id.startsWith('submission:'), batch_size: 100 });
    } catch (err) { failures.push(`${tab.t}: ${err.message || err}`); }
    tab.pushedAt = Date.now();
  }));
  const pushMs = Date.now() - started;
  // Each tablet keeps a live pull (long-poll through the gateway, as a real tablet syncs) and watches
  // its own database until the review of every survey is there and its household doc carries a tier.
  const lags = [];
  const deadline = Date.now() + 1000 * parseFloat(a.timeout || '900');
  await Promise.all(fleet.map((tab) => new Promise((resolve) => {
    const waiting = new Map(tab.docs.map((d) => [d._id.slice('submission:'.length), d.household_id]));
    const reviewed = new Set();
    const tiered = new Set();
    const pull = tab.db.replicate.from(tab.remote, { live: true, retry: true, batch_size: 500 });
    const feed = tab.db.changes({ live: true, since: 'now', include_docs: true });
    const finish = () => { pull.cancel(); feed.cancel(); clearTimeout(timer); resolve(); };
    const settle = () => {
      const now = Date.now();
      for (const [u, household] of waiting) {
        if (reviewed.has(u) && tiered.has(household)) { lags.push(now - tab.pushedAt); waiting.delete(u); }
      }
      if (!waiting.size) finish();
    };
    feed.on('change', (change) => {
      const doc = change.doc || {};
      if (doc._id.startsWith('review:') && waiting.has(doc._id.slice(7))) reviewed.add(doc._id.slice(7));
      if (doc._id.startsWith('household:') && doc.tier) tiered.add(doc.household_id);
      settle();
    });
    const timer = setTimeout(() => {
      failures.push(`${tab.t}: ${waiting.size} surveys without a tier on the tablet`);
      finish();
    }, Math.max(0, deadline - Date.now()));
  })));
  lags.sort((x, y) => x - y);
  const pick = (q) => lags.length ? lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] : null;
  process.stdout.write(JSON.stringify({
    ok: failures.length === 0, tablets, per_tablet: perTablet, submissions: tablets * perTablet,
    push_ms: pushMs, lag_ms: { p50: pick(0.5), p95: pick(0.95), max: lags[lags.length - 1] || null },
    total_ms: Date.now() - started, failures: failures.slice(0, 10),
  }) + '\n');
})().catch((err) => { process.stdout.write(JSON.stringify({ ok: false, error: String(err.stack || err) }) + '\n'); });
