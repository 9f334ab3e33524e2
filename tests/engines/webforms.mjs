// Fills an XForm in ODK Web Forms' engine (@getodk/xforms-engine, the engine ODK Web Forms 0.22
// is built on) inside headless Debian Chromium, driven through playwright-core: the same script
// as CollectDriver.java (answers by instance path with 1-based repeat positions, repeat counts),
// the same report (every question shown, the engine's verdict and message on each answer, the
// violations left when the instance is prepared, the instance XML the engine serialises).
//
// Usage: node webforms.mjs form.xml media-dir script.json out.json
//        node webforms.mjs --render form.xml media-dir out.json [screenshot.png]
// --render mounts the real ODK Web Forms 0.22 UI (@getodk/web-forms, on Vue) with the form and
// reports what it shows: the form's text, or the load-failure dialog Web Forms raises.
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const ENGINE = require.resolve('@getodk/xforms-engine');
const WEB_FORMS = path.dirname(require.resolve('@getodk/web-forms'));
const VUE = path.join(path.dirname(require.resolve('vue/package.json')), 'dist', 'vue.esm-browser.prod.js');
const render = process.argv[2] === '--render';
const CHROMIUM = process.env.FANGPIN_CHROMIUM || '/usr/bin/chromium';
const [formPath, mediaDir, scriptPath, outPath] = render
  ? [process.argv[3], process.argv[4], null, process.argv[5]]
  : process.argv.slice(2);
const screenshot = render ? process.argv[6] : null;

const PAGE = `<!doctype html><meta charset="utf-8"><title>ODK Web Forms</title>
<script type="importmap">{"imports": {"vue": "/vue.js"}}</script><div id="app"></div>`;

// One origin for the page, the engine module, the form and its media (no file:// module quirks).
function serve() {
  const routes = {
    '/': ['text/html', async () => PAGE],
    '/engine.js': ['text/javascript', () => readFile(ENGINE)],
    '/vue.js': ['text/javascript', () => readFile(VUE)],
    '/form.xml': ['application/xml', () => readFile(formPath)],
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    let route = routes[url.pathname];
    if (!route && url.pathname.startsWith('/web-forms/')) {
      const name = path.basename(url.pathname);
      route = [name.endsWith('.js') ? 'text/javascript' : 'application/octet-stream',
        () => readFile(path.join(WEB_FORMS, name))];
    }
    if (!route && url.pathname.startsWith('/media/')) {
      const name = path.basename(decodeURIComponent(url.pathname));
      route = ['text/csv', () => readFile(path.join(mediaDir, name))];
    }
    try {
      if (!route) throw new Error('not found');
      const body = await route[1]();
      res.writeHead(200, { 'content-type': route[0] + '; charset=utf-8' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Runs in the page: one fresh form instance per run.
async function fillInPage({ runs, properties }) {
  const engine = await import('/engine.js');
  const formXml = await (await fetch('/form.xml')).text();
  const results = [];
  for (const run of runs) {
    const events = [];
    const form = await engine.createInstance(formXml, {
      form: { fetchFormAttachment: (url) => fetch('/media/' + url.href.split('/').pop()) },
      instance: { preloadProperties: { deviceID: properties.deviceid, username: properties.username } },
    });
    const root = form.root;
    const added = {};
    const generic = (ref) => ref.replace(/\[\d+\]/g, '');
    const walk = (node) => {
      const state = node.currentState;
      if (!state.relevant) return;
      if (node.nodeType === 'repeat-range:uncontrolled') {
        const want = (run.repeats[generic(state.reference)] || 0) + 1;
        const have = state.children.length;
        if (want > have) node.addInstances(have - 1, want - have);
      }
      if (state.children && node.nodeType !== 'select' && node.nodeType !== 'input') {
        for (const child of [...node.currentState.children]) walk(child);
        return;
      }
      if (!['input', 'select', 'upload'].includes(node.nodeType)) return;
      const ref = state.reference;
      const row = { path: ref, type: node.nodeType, valueType: node.valueType || null, readonly: state.readonly,
        required: state.required, before: state.instanceValue || null };
      events.push(row);
      if (!(ref in run.answers) || node.nodeType === 'upload') return;
      const wanted = run.answers[ref];
      if (node.nodeType === 'select') {
        const values = wanted.trim().split(/\s+/).filter(Boolean);
        const offered = new Set(node.currentState.valueOptions.map((item) => item.value));
        const missing = values.filter((v) => !offered.has(v));
        if (missing.length) {
          row.verdict = 'no_such_choice';
          row.message = 'not offered: ' + missing.join(' ');
          return;
        }
        if (node.selectType === 'select1') node.selectValue(values[0]);
        else node.selectValues(values);
      } else {
        node.setValue(wanted);
      }
      row.answered = true;
      const violation = node.validationState.violation;
      row.verdict = violation ? violation.condition : 'ok';
      if (violation) row.message = violation.message ? violation.message.asString : null;
      row.after = node.currentState.instanceValue || null;
    };
    walk(root);
    const payload = await root.prepareInstancePayload();
    const result = { name: run.name, events, status: payload.status };
    if (payload.status !== 'ready') {
      result.violations = payload.violations.map((v) => ({
        path: v.reference, outcome: v.violation.condition,
        message: v.violation.message ? v.violation.message.asString : null,
      }));
    }
    result.instance = await payload.data[0].get('xml_submission_file').text();
    results.push(result);
  }
  return results;
}

// Runs in the page: Web Forms' own component, as a host application mounts it.
async function mountInPage() {
  const { createApp, h } = await import('vue');
  const { OdkWebForm, webFormsPlugin } = await import('/web-forms/index.js');
  const formXml = await (await fetch('/form.xml')).text();
  const fetchFormAttachment = (url) => fetch('/media/' + url.href.split('/').pop());
  createApp({ render: () => h(OdkWebForm, { formXml, fetchFormAttachment, onSubmit: () => {} }) })
    .use(webFormsPlugin).mount('#app');
}

const script = scriptPath ? JSON.parse(await readFile(scriptPath, 'utf-8')) : null;
const server = await serve();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  if (render) {
    await page.setViewportSize({ width: 900, height: 1400 });
    await page.evaluate(mountInPage);
    const shown = page.locator('.form-questions .question-container, .form-load-failure-dialog, .form-error-text-wrap');
    await shown.first().waitFor({ timeout: 60000 });
    const failed = await page.locator('.form-load-failure-dialog').count() > 0;
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: false });
    const text = await page.locator('body').innerText();
    await writeFile(outPath, JSON.stringify({ loaded: !failed, text, errors }, null, 2));
  } else {
    const results = await page.evaluate(fillInPage, script);
    await writeFile(outPath, JSON.stringify(results, null, 2));
  }
  if (errors.length) console.error(errors.join('\n'));
} finally {
  await browser.close();
  server.close();
}
