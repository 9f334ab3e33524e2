// The published forms from the local copy of fp_forms, and their per-user media (the household,
// member, village and event lists), fetched while online and kept on the device, so a form opens
// and fills with no server round trip.
import { authHeader, getLocal, listLocal, localDb, putLocal } from './local.js';

function versionKey(v) { return /^\d+$/.test(v) ? v.padStart(20, '0') : v; }

export async function forms(formId) {
  const res = await localDb('fp_forms').allDocs({ startkey: `form:${formId}:`, endkey: `form:${formId}:\ufff0`, include_docs: true });
  return res.rows.map((r) => r.doc).sort((a, b) => (versionKey(a.version) < versionKey(b.version) ? 1 : -1));
}

export async function latestForm(formId) {
  return (await forms(formId))[0] || null;
}

export async function formVersion(formId, version) {
  return (await forms(formId)).find((f) => f.version === version) || null;
}

export async function formXml(form) {
  const blob = await localDb('fp_forms').getAttachment(form._id, 'xform.xml');
  return blob.text();
}

// Collect's rule: a file is downloaded again only when the manifest's md5 changed.
export async function refreshMedia(dev, formIds) {
  let fetched = 0;
  for (const formId of formIds) {
    const headers = { Authorization: authHeader(dev), 'X-OpenRosa-Version': '1.0' };
    const res = await fetch(`/forms/${formId}/manifest`, { headers, cache: 'no-store' });
    if (!res.ok) throw new Error(`manifest ${formId}: HTTP ${res.status}`);
    const xml = new DOMParser().parseFromString(await res.text(), 'application/xml');
    for (const file of xml.getElementsByTagName('mediaFile')) {
      const name = file.getElementsByTagName('filename')[0].textContent;
      const hash = file.getElementsByTagName('hash')[0].textContent;
      const id = `media:${formId}:${name}`;
      const have = await getLocal(id);
      if (have && have.hash === hash) continue;
      const body = await fetch(`/forms/${formId}/media/${encodeURIComponent(name)}`, { headers, cache: 'no-store' });
      if (!body.ok) throw new Error(`${name}: HTTP ${body.status}`);
      const blob = await body.blob();
      await putLocal(id, { type: 'media', form_id: formId, name, hash, fetched_at: new Date().toISOString(),
        _attachments: { file: { content_type: blob.type || 'application/octet-stream', data: blob } } });
      fetched += 1;
    }
  }
  return fetched;
}

// Web Forms asks for jr://file/<name>: answered from the device.
export function attachmentFetcher(formId) {
  return async (url) => {
    const name = decodeURIComponent(String(url.href || url).split('/').pop());
    try {
      const blob = await localDb('fp_local').getAttachment(`media:${formId}:${name}`, 'file');
      return new Response(blob, { status: 200 });
    } catch {
      return new Response('', { status: 404 });
    }
  };
}

export async function mediaText(formId, name) {
  try { return await (await localDb('fp_local').getAttachment(`media:${formId}:${name}`, 'file')).text(); } catch { return ''; }
}

export async function mediaCount() {
  return (await listLocal('media:')).length;
}

// A small CSV reader for the media lists (RFC 4180 quotes; the server writes them with Python's csv).
export function parseCsv(text) {
  const rows = [];
  let row = [], cell = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; }
    else if (c !== '\r') cell += c;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  const [header, ...body] = rows;
  return (body || []).map((r) => Object.fromEntries((header || []).map((h, i) => [h, r[i] ?? ''])));
}
