#!/usr/bin/env node
// Builds the web console (ui/) into dist/ui, which src/gateway/routes/ui.ts serves at /ui:
//   dist/ui/index.html                 the page, naming this build's hashed files
//   dist/ui/assets/app-<hash>.js       one script (Preact, CodeMirror 6, uPlot and ours), minified
//   dist/ui/assets/app-<hash>.css      one stylesheet, with uPlot's
//   dist/ui/assets/*.gz, *.br          pre-compressed copies, sent to browsers that accept them
// Fails when the script and stylesheet together exceed the budget, gzipped.
//   node scripts/build-ui.mjs [--quiet]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';

const BUDGET_GZIP_BYTES = 400 * 1024;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'ui');
const out = path.join(root, 'dist', 'ui');
const assets = path.join(out, 'assets');
const quiet = process.argv.includes('--quiet');

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(assets, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'ui/src/main.tsx', style: 'ui/src/styles.css' },
  bundle: true,
  minify: true,
  // A classic script, not a module: it reads its own tag (document.currentScript) for the
  // page's CSP nonce, which module scripts cannot.
  format: 'iife',
  target: ['chrome109', 'firefox115', 'safari15.4'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: assets,
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const built = Object.keys(result.metafile.outputs).map((f) => path.join(root, f));
const js = built.find((f) => f.endsWith('.js'));
const css = built.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`build-ui: expected one .js and one .css output, got ${built.join(', ')}`);
fs.copyFileSync(path.join(src, 'favicon.svg'), path.join(assets, 'favicon.svg'));

const html = fs
  .readFileSync(path.join(src, 'index.html'), 'utf8')
  .replace('{{app.js}}', `/ui/assets/${path.basename(js)}`)
  .replace('{{app.css}}', `/ui/assets/${path.basename(css)}`);
fs.writeFileSync(path.join(out, 'index.html'), html);

let gzipTotal = 0;
const sizes = [];
for (const file of [js, css, path.join(assets, 'favicon.svg')]) {
  const body = fs.readFileSync(file);
  const gz = zlib.gzipSync(body, { level: 9 });
  fs.writeFileSync(`${file}.gz`, gz);
  fs.writeFileSync(`${file}.br`, zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
  if (file === js || file === css) gzipTotal += gz.length;
  sizes.push(`${path.basename(file)} ${kb(body.length)} (${kb(gz.length)} gzipped)`);
}

function kb(n) {
  return `${(n / 1024).toFixed(1)} KB`;
}

if (!quiet) console.log(`build-ui: dist/ui: ${sizes.join(', ')}; budget ${kb(gzipTotal)} of ${kb(BUDGET_GZIP_BYTES)} gzipped`);
if (gzipTotal > BUDGET_GZIP_BYTES) {
  console.error(`build-ui: the console is ${kb(gzipTotal)} gzipped, over its budget of ${kb(BUDGET_GZIP_BYTES)}: see what grew with esbuild's metafile (ui/ imports)`);
  process.exit(1);
}
