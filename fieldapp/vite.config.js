// The field app's build: one static bundle under /app/ with a service worker that precaches all of
// it (ODK Web Forms included), so after one online visit the app opens with the network off.
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

const root = fileURLToPath(new URL('.', import.meta.url));
const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'));
const version = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).version;

export default defineConfig({
  root,
  base: '/app/',
  define: {
    __APP_VERSION__: JSON.stringify(version),
    __WEB_FORMS_VERSION__: JSON.stringify(lock.packages['node_modules/@getodk/web-forms'].version),
    __VUE_OPTIONS_API__: 'true',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    global: 'globalThis',
  },
  // PouchDB's browser build extends Node's EventEmitter: the npm `events` package stands in for it.
  resolve: { alias: { events: 'events/' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096, reportCompressedSize: false },
  plugins: [
    VitePWA({
      injectRegister: null, // src/main.js registers it (virtual:pwa-register)
      registerType: 'autoUpdate',
      manifest: {
        name: '防贫 · 入户调查', short_name: '防贫调查', lang: 'zh-CN', start_url: '/app/', scope: '/app/',
        display: 'standalone', background_color: '#ffffff', theme_color: '#b3261e',
        icons: [{ src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,ico,wasm,webmanifest}'],
        maximumFileSizeToCacheInBytes: 12 * 1024 * 1024, // Web Forms' main chunk is about 2.3 MB
        navigateFallback: '/app/index.html',
        navigateFallbackAllowlist: [/^\/app\//],
        cleanupOutdatedCaches: true,
      },
    }),
  ],
});
