'use strict';
// Deploy-time check of a JavaScript function, run by the daemon in a sandbox (never in its
// own process): parse the module as CommonJS (syntax errors with their line) without running
// it, and make sure it can export a handler at all.
// Usage: node check.js <dir> <file> <handler>; prints one JSON object on stdout.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

function check(dir, file, handler) {
  const source = fs.readFileSync(path.join(dir, file), 'utf8');
  try {
    // Compiled as the body of CommonJS's module function, as require() would, not run.
    vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
  } catch (e) {
    const at = /^[^\n]*:(\d+)\n/.exec(String(e.stack));
    const line = at ? Number(at[1]) : null;
    const text = line ? (source.split('\n')[line - 1] ?? '').slice(0, 200) : '';
    return { ok: false, kind: e.name || 'SyntaxError', message: e.message, line, text };
  }
  // A module that never mentions exports cannot export a handler; a named handler must at
  // least appear in the source. (What it evaluates to is only known by running it.)
  if (handler && !new RegExp(`\\b${handler.replace(/[$]/g, '\\$')}\\b`).test(source)) {
    return { ok: false, kind: 'HandlerNotFound', message: `${file} never mentions the handler "${handler}"`, line: null };
  }
  if (!/\bexports\b/.test(source)) {
    return { ok: false, kind: 'HandlerNotFound', message: `${file} exports nothing: set exports.handler = async (event) => ... or module.exports = (request) => ...`, line: null };
  }
  return { ok: true };
}

const [dir, file, handler] = process.argv.slice(2);
process.stdout.write(`${JSON.stringify(check(dir, file, handler || ''))}\n`);
