// An XForm instance (what ODK Web Forms produces) as a submission's `data`, and back (pure).
//
// The same shape the server reads from OpenRosa (forms/instance.py) and scripts/tablet.js writes:
// pages (body groups) are left out of the data, repeats become arrays of objects, int and decimal
// binds become numbers, everything else stays text (select_multiple space-separated), empty
// answers are left out, `meta` is not data. A number that does not parse stays as text, so the
// server's validation flags it and nothing is lost. tests/test_fieldapp.py checks both directions
// against the server's reader on real engine output.
//
// Only DOM APIs (DOMParser, XMLSerializer): no network, no storage.

const XF = 'http://www.w3.org/2002/xforms';
const JR = 'http://openrosa.org/javarosa';

function parse(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  const error = doc.getElementsByTagName('parsererror')[0];
  if (error) throw new Error(`not XML: ${error.textContent.slice(0, 200)}`);
  return doc;
}

function elements(node) {
  return Array.from(node.childNodes).filter((n) => n.nodeType === 1);
}

// Every path of the form: 'page' (a body group), 'repeat', or its bind's type ('int', 'string'…).
export function formShape(formXml) {
  const doc = typeof formXml === 'string' ? parse(formXml) : formXml;
  const kinds = new Map();
  for (const bind of doc.getElementsByTagNameNS(XF, 'bind')) {
    kinds.set(bind.getAttribute('nodeset'), bind.getAttribute('type') || 'string');
  }
  const body = doc.getElementsByTagNameNS('http://www.w3.org/1999/xhtml', 'body')[0];
  for (const group of body.getElementsByTagNameNS(XF, 'group')) {
    const ref = group.getAttribute('ref');
    if (ref) kinds.set(ref, 'page');
  }
  for (const repeat of body.getElementsByTagNameNS(XF, 'repeat')) kinds.set(repeat.getAttribute('nodeset'), 'repeat');
  const model = doc.getElementsByTagNameNS(XF, 'model')[0];
  const primary = elements(model).find((el) => el.localName === 'instance' && !el.getAttribute('id'));
  const root = elements(primary)[0];
  return { doc, kinds, root, rootPath: '/' + root.localName };
}

function scalar(text, type) {
  if (type === 'int' && /^[+-]?\d+$/.test(text)) return parseInt(text, 10);
  if (type === 'decimal' && text !== '' && Number.isFinite(Number(text))) return Number(text);
  return text;
}

function untyped(el) {
  const kids = elements(el);
  if (!kids.length) return el.textContent.trim();
  const out = {};
  for (const child of kids) {
    const value = untyped(child);
    if (child.localName in out) {
      const have = out[child.localName];
      out[child.localName] = Array.isArray(have) ? [...have, value] : [have, value];
    } else if (value !== '') out[child.localName] = value;
  }
  return out;
}

function typed(el, path, shape, out) {
  for (const child of elements(el)) {
    const name = child.localName;
    const p = `${path}/${name}`;
    const kind = shape.kinds.get(p);
    if (kind === undefined) { // not in the form: kept as sent, never over an answer
      if (!(name in out)) out[name] = untyped(child);
    } else if (kind === 'page') {
      typed(child, p, shape, out);
    } else if (kind === 'repeat') {
      if (!Array.isArray(out[name])) out[name] = [];
      out[name].push(typed(child, p, shape, {}));
    } else {
      const text = child.textContent.trim();
      if (text && !elements(child).length) out[name] = scalar(text, kind);
    }
  }
  return out;
}

// The instance XML → { data, meta } (meta: instanceID, deprecatedID… as text).
export function toData(formXml, instanceXml) {
  const shape = formShape(formXml);
  const root = parse(instanceXml).documentElement;
  const metaEl = elements(root).find((el) => el.localName === 'meta');
  const meta = {};
  if (metaEl) for (const el of elements(metaEl)) meta[el.localName] = el.textContent.trim();
  const data = typed(root, shape.rootPath, shape, {});
  delete data.meta;
  return { data, meta };
}

function fill(el, path, shape, data) {
  for (const child of elements(el)) {
    const name = child.localName;
    const p = `${path}/${name}`;
    const kind = shape.kinds.get(p);
    if (kind === 'page') {
      fill(child, p, shape, data);
    } else if (kind === 'repeat') {
      if (!child.hasAttributeNS(JR, 'template') && child.getAttribute('jr:template') === null) {
        child.remove(); // an entry of the blank form: the data says how many there are
        continue;
      }
      const items = Array.isArray(data[name]) ? data[name] : [];
      for (const item of items) {
        const entry = child.cloneNode(true);
        entry.removeAttributeNS(JR, 'template');
        entry.removeAttribute('jr:template');
        fill(entry, p, shape, item && typeof item === 'object' ? item : {});
        el.insertBefore(entry, child);
      }
      child.remove(); // the template itself: the engine has it from the form
    } else if (name === 'meta' && path === shape.rootPath) {
      continue;
    } else if (elements(child).length) {
      if (data[name] && typeof data[name] === 'object') fill(child, p, shape, data[name]);
    } else if (data[name] !== undefined && data[name] !== null) {
      child.textContent = String(data[name]);
    }
  }
}

// `data` → an instance of the form (for Web Forms' editInstance): what a draft, a returned
// submission or a survey started from a household's current record opens with.
export function toInstance(formXml, data, instanceID) {
  const shape = formShape(formXml);
  const root = shape.root.cloneNode(true);
  fill(root, shape.rootPath, shape, data || {});
  const metaEl = elements(root).find((el) => el.localName === 'meta');
  const idEl = metaEl && elements(metaEl).find((el) => el.localName === 'instanceID');
  if (idEl) idEl.textContent = instanceID;
  return new XMLSerializer().serializeToString(root);
}
