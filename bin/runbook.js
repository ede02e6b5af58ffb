#!/usr/bin/env node
// Runs the compiled CLI; `npm run build` (or any npm test/demo/bench script) produces dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('runbook: dist/ is missing; run `npm run build` first\n');
  process.exit(70);
}
await import(main.href);
