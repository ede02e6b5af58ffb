import { execFileSync } from 'node:child_process';

// Tests drive the real CLI (bin/runbook.js → dist/), so compile once before any file runs.
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
