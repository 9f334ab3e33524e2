// What the device keeps (IndexedDB through PouchDB): replicas of the sync databases, and `fp_local`,
// which is never replicated: the device credential, drafts, the outbox, the forms' media lists.
//
// The `indexeddb` adapter, not pouchdb-browser's default `idb`: it can purge (CHT's purging of old
// reviewed surveys from the device), which `idb` cannot.
import PouchDB from 'pouchdb-browser';
import IndexeddbAdapter from 'pouchdb-adapter-indexeddb';

PouchDB.plugin(IndexeddbAdapter);
const PREFIX = 'fangpin_';
const open = new Map();

export function localDb(name) {
  if (!open.has(name)) open.set(name, new PouchDB(PREFIX + name, { adapter: 'indexeddb' }));
  return open.get(name);
}

export const LOCAL = 'fp_local';

export async function getLocal(id) {
  try { return await localDb(LOCAL).get(id); } catch (err) { if (err.status === 404) return null; throw err; }
}

// Write `value` as doc `id`, whatever revision is there (the device is the only writer).
export async function putLocal(id, value) {
  const db = localDb(LOCAL);
  for (let i = 0; i < 5; i++) {
    const have = await getLocal(id);
    try { return await db.put({ ...value, _id: id, _rev: have ? have._rev : undefined }); } catch (err) {
      if (err.status !== 409) throw err;
    }
  }
  throw new Error(`${id} kept changing`);
}

export async function removeLocal(id) {
  const have = await getLocal(id);
  if (have) await localDb(LOCAL).remove(have);
}

export async function listLocal(prefix) {
  const res = await localDb(LOCAL).allDocs({ startkey: prefix, endkey: prefix + '\ufff0', include_docs: true });
  return res.rows.map((r) => r.doc);
}

export const device = {
  get: () => getLocal('_local/device'),
  put: (value) => putLocal('_local/device', value),
};

// Sign-out: every local database goes, the app's code (the service worker's cache) stays.
export async function wipe(names) {
  for (const name of new Set([LOCAL, ...names])) {
    await localDb(name).destroy();
    open.delete(name);
  }
}

// The device's own credential, as every request to the server sends it.
export function authHeader(dev) {
  return 'Basic ' + btoa(`${dev.user}:${dev.password}`);
}

export function villageDbs(dev) {
  return dev.databases.filter((d) => d.startsWith('fp_v_'));
}
export function villagesOf(dev) {
  return villageDbs(dev).map((d) => d.slice('fp_v_'.length));
}
