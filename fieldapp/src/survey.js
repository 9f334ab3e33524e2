// A survey on the device: ODK Web Forms renders the form from the local fp_forms with the media
// kept on the device; what it produces is turned into a submission doc in the village replica
// and queued for the push. Drafts stay in fp_local (never replicated).
import { createApp, h as vh, watch } from 'vue';
import { OdkWebForm, webFormsPlugin } from '@getodk/web-forms';
import { attachmentFetcher, formVersion, formXml, latestForm } from './forms.js';
import { toData, toInstance } from './instance.js';
import { queue } from './sync.js';
import { getLocal, localDb, putLocal, removeLocal, villageDbs, villagesOf } from './local.js';
import { resizePhoto } from './scan.js';
import { getLang, t } from './i18n.js';

let mounted = null;
let unwatch = null; // the consent watcher of the mounted form

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

// Web Forms keeps the engine's form tree to itself; its header component is handed it as `form`.
// Found there (from the vnode Vue leaves on the container), it lets the app save a draft and
// choose the household as a worker would.
function close() {
  if (unwatch) { unwatch(); unwatch = null; }
  if (mounted) { mounted.unmount(); mounted = null; }
}

function engineRoot(container) {
  const walk = (vnode, depth) => {
    if (!vnode || depth > 60) return null;
    const form = vnode.props && vnode.props.form;
    if (form && typeof form.prepareInstancePayload === 'function') return form;
    if (vnode.component) return walk(vnode.component.subTree, depth + 1);
    if (Array.isArray(vnode.children)) for (const c of vnode.children) { const r = walk(c, depth + 1); if (r) return r; }
    return null;
  };
  return walk(container._vnode, 0);
}

function findNode(node, name) {
  const ref = node.currentState && node.currentState.reference;
  if (ref && ref.endsWith('/' + name)) return node;
  for (const child of (node.currentState && node.currentState.children) || []) {
    const found = findNode(child, name);
    if (found) return found;
  }
  return null;
}

async function waitFor(fn, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = fn();
    if (value || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function choose(root, name, value) {
  const node = findNode(root, name);
  if (!node || node.currentState.relevant === false) return false;
  if (typeof node.selectValue === 'function') node.selectValue(value); else node.setValue(value);
  return true;
}

async function findSubmission(dev, id) {
  for (const name of villageDbs(dev)) {
    const doc = await localDb(name).get(id).catch(() => null);
    if (doc) return doc;
  }
  return null;
}

export async function openSurvey(app, { dev, formId, household, draftId, editId, header, done, saveDevice, lookup }) {
  close();
  delete document.body.dataset.survey; // set again once this form is ready to be filled
  const draft = draftId ? await getLocal(draftId) : null;
  const existing = editId ? await findSubmission(dev, editId) : null;
  const version = (draft && draft.form_version) || (existing && existing.form_version);
  const form = (version && (await formVersion(formId, version))) || (await latestForm(formId));
  const status = el('p', { class: 'flash', id: 'survey-status', role: 'status' });
  if (!form) {
    app.replaceChildren(header, el('main', {}, el('p', { class: 'error' }, t('这台平板上还没有表单，请联网同步一次。'))));
    return;
  }
  const xml = await formXml(form);
  const instanceId = 'uuid:' + crypto.randomUUID();
  const startedAt = (draft && draft.started_at) || new Date().toISOString();
  let opening = null;
  if (draft) opening = draft.xml;
  else if (existing) opening = toInstance(xml, existing.data, instanceId);

  const holder = el('div', { id: 'webform' });
  let vueApp = null;
  const saveDraft = async () => {
    const root = engineRoot(holder);
    if (!root) return;
    const payload = await root.prepareInstancePayload({ payloadType: 'monolithic' });
    const text = await payload.data[0].get('xml_submission_file').text();
    const { data } = toData(xml, text);
    const id = draftId || `draft:${crypto.randomUUID()}`;
    await putLocal(id, { type: 'draft', user: dev.user, form_id: formId, form_version: form.version, edit_of: editId || null,
      household_id: data.household_id || (household !== 'new' ? household : ''), xml: text, started_at: startedAt,
      saved_at: new Date().toISOString() });
    close();
    done(t('已保存为草稿'));
  };
  const onSubmit = async (payload) => {
    try {
      const files = payload.data[0];
      const text = await files.get('xml_submission_file').text();
      const { data, meta } = toData(xml, text);
      const village = data.village_code;
      if (!villagesOf(dev).includes(village)) throw new Error(`village ${village}`);
      const attachments = {};
      for (const [key, value] of files.entries()) {
        if (key === 'xml_submission_file' || !(value instanceof Blob)) continue;
        const small = await resizePhoto(value);
        attachments[value.name || key] = { content_type: small.type || 'application/octet-stream', data: small };
      }
      const seq = (dev.device_seq || 0) + 1;
      await saveDevice({ ...dev, device_seq: seq });
      const now = new Date().toISOString();
      const uuid = (meta.instanceID || instanceId).replace(/^uuid:/, '');
      const doc = {
        ...(existing || {}),
        _id: existing ? existing._id : `submission:${uuid}`,
        type: 'submission', form_id: formId, form_version: form.version, village_code: village,
        household_id: data.household_id || '', household_base_version: Number.isInteger(data.household_base_version) ? data.household_base_version : 0,
        submitted_by: dev.user, device_id: dev.device_id, device_seq: seq,
        started_at: existing ? existing.started_at : startedAt, completed_at: now, data,
      };
      if (Object.keys(attachments).length) doc._attachments = { ...(existing && existing._attachments), ...attachments };
      const res = await localDb('fp_v_' + village).put(doc);
      await queue(doc, res.rev);
      if (draftId) await removeLocal(draftId);
      close();
      done(t('已保存，等待上传'));
    } catch (err) {
      status.textContent = `${t('打开表单失败')}: ${err.message}`;
    }
  };

  const props = {
    formXml: xml,
    fetchFormAttachment: attachmentFetcher(formId),
    missingResourceBehavior: 'BLANK',
    preloadProperties: { username: dev.user, deviceID: dev.device_id },
    onSubmit,
  };
  if (opening) props.editInstance = { resolveInstance: async () => opening, attachmentFileNames: [], resolveAttachment: async () => null };
  vueApp = createApp({ render: () => vh(OdkWebForm, props) });
  vueApp.use(webFormsPlugin);
  const tools = el('div', { class: 'tools survey-tools' },
    el('a', { class: 'button', href: '#/', id: 'survey-back' }, t('放弃')),
    el('button', { id: 'save-draft', onclick: () => saveDraft().catch((err) => { status.textContent = err.message; }) }, t('保存草稿')));
  app.replaceChildren(header, el('main', { class: 'survey' }, tools, status, holder));
  vueApp.mount(holder);
  mounted = vueApp;

  const root = await waitFor(() => engineRoot(holder) || holder.querySelector('.form-load-failure-dialog, .p-dialog'));
  if (!root || !root.prepareInstancePayload) { // Web Forms could not load it: say so, in words
    const failure = document.querySelector('.form-load-failure-dialog, .p-dialog');
    status.textContent = `${t('打开表单失败')}: ${failure ? failure.textContent.slice(0, 300) : form.version}`;
    document.body.dataset.survey = 'failed';
    return;
  }
  if (getLang() === 'en') {
    const en = (root.languages || []).find((l) => /english|\(en\)/i.test(l.language));
    if (en) root.setLanguage(en);
  }
  if (!opening) { // a new survey: the household is chosen the way the worker would, so the form's prefill runs
    const villages = villagesOf(dev);
    const known = household !== 'new' ? await lookup(household) : null;
    const village = known ? known.village_code : villages.length === 1 ? villages[0] : null;
    if (village) choose(root, 'village_code', village);
    choose(root, 'is_new', known ? 'no' : 'yes');
    if (known) choose(root, 'household_pick', known.household_id);
  }
  unwatch = refillOnConsent(root);
  document.body.dataset.survey = 'ready';
}

// ODK Web Forms 0.22 drops a setvalue whose target is not relevant yet (getodk/web-forms#791): the
// form fills the household's known answers when it is picked, but those pages become relevant only
// once consent is given, so the answers were lost. When consent turns yes, the app picks the same
// household again and the form's own prefill runs on relevant pages (JavaRosa keeps them anyway).
function refillOnConsent(root) {
  const consent = findNode(root, 'consent');
  if (!consent) return null;
  return watch(() => String(consent.currentState.value), (value, before) => {
    if (value !== 'yes' || before === 'yes') return;
    for (const name of ['household_scan', 'household_pick']) {
      const node = findNode(root, name);
      const current = node && String(node.currentState.value || '');
      if (!current || node.currentState.relevant === false) continue;
      if (typeof node.selectValue === 'function') { node.selectValue(null); node.selectValue(current); } else { node.setValue(''); node.setValue(current); }
    }
  });
}
