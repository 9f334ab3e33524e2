// Replication with the gateway: every sync database is pulled live, every village database is
// pushed live; both retry with back-off (1 s doubling to 60 s) when the network or the server is
// away. Nothing is lost across restarts: the surveys live in the local replica until the push
// has them, and the outbox (in fp_local) says which revisions the server has not confirmed yet.
import PouchDB from 'pouchdb-browser';
import { listLocal, localDb, putLocal, removeLocal, villageDbs } from './local.js';

export const backOff = (delay) => (delay ? Math.min(delay * 2, 60000) : 1000);

export function remoteDb(dev, name) {
  return new PouchDB(`${location.origin}/sync/${name}`, {
    auth: { username: dev.user, password: dev.password }, skip_setup: true,
  });
}

// A saved survey revision waiting for the server.
export async function queue(doc, rev) {
  await putLocal(`outbox:${doc._id}`, { type: 'outbox', doc_id: doc._id, rev, village: doc.village_code,
    household_id: doc.household_id, form_id: doc.form_id, saved_at: new Date().toISOString() });
}

export async function pending() {
  return listLocal('outbox:');
}

async function confirm(docs) {
  const waiting = new Map((await pending()).map((e) => [e.doc_id, e]));
  for (const doc of docs) {
    const entry = waiting.get(doc._id);
    if (entry && entry.rev === doc._rev) await removeLocal(entry._id);
  }
}

export class Sync {
  constructor(dev, onState) {
    this.dev = dev;
    this.onState = onState;
    this.reps = [];
    this.errors = new Map();
    this.active = new Set();
    this.state = { lastSync: null, lastError: null, running: false };
  }

  emit() { this.onState({ ...this.state }); }

  start() {
    if (this.reps.length) return;
    this.state.running = true;
    const opts = { live: true, retry: true, back_off_function: backOff, batch_size: 100 };
    const watch = (rep, key, push) => {
      rep.on('change', (info) => {
        this.errors.delete(key);
        if (push) confirm(info.docs || []).then(() => this.emit());
        else this.emit();
      });
      rep.on('active', () => { this.active.add(key); this.emit(); });
      rep.on('paused', (err) => {
        this.active.delete(key);
        if (err) this.fail(key, err); else { this.errors.delete(key); this.settled(); }
        this.emit();
      });
      rep.on('denied', (err) => this.fail(key, err));
      rep.on('error', (err) => this.fail(key, err));
      this.reps.push(rep);
    };
    for (const name of this.dev.databases) {
      watch(PouchDB.replicate(remoteDb(this.dev, name), localDb(name), opts), `pull:${name}`, false);
    }
    for (const name of villageDbs(this.dev)) {
      watch(PouchDB.replicate(localDb(name), remoteDb(this.dev, name), opts), `push:${name}`, true);
    }
    this.emit();
  }

  settled() {
    if (!this.errors.size && !this.active.size) {
      this.state.lastSync = new Date().toISOString();
      this.state.lastError = null;
    }
  }

  fail(key, err) {
    this.errors.set(key, err);
    const status = err && (err.status || err.statusCode);
    this.state.lastError = { at: new Date().toISOString(), status: status || 0,
      reason: String((err && (err.reason || err.message)) || err) };
    this.emit();
  }

  stop() {
    for (const rep of this.reps) rep.cancel();
    this.reps = [];
    this.active.clear();
    this.state.running = false;
    this.emit();
  }

  restart() { this.stop(); this.start(); }
}
