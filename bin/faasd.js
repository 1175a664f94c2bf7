#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli.ts to dist/cli.js by `npm run build`
// (run automatically by `npm ci` / `npm install` through the prepare script).
import('../dist/cli.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
