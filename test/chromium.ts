/**
 * Headless Chromium (Debian's) for the HTML report's tests: the DOM as the browser built it, a
 * screenshot kept under test-artifacts/, and every console message (a CSP violation is one).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ARTIFACTS = resolve('test-artifacts');

export function render(htmlFile: string, screenshot: string, height = 1600): { dom: string; console: string[] } {
  mkdirSync(ARTIFACTS, { recursive: true });
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--enable-logging=stderr', '--v=0', `--window-size=1280,${height}`];
  const shot = spawnSync('chromium', [...args, `--screenshot=${join(ARTIFACTS, screenshot)}`, `file://${htmlFile}`], { encoding: 'utf8', timeout: 60_000 });
  const dom = spawnSync('chromium', [...args, '--dump-dom', `file://${htmlFile}`], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  if (dom.status !== 0) throw new Error(`chromium failed: ${dom.stderr}`);
  const consoleLines = `${shot.stderr}\n${dom.stderr}`.split('\n').filter((l) => l.includes(':CONSOLE'));
  return { dom: dom.stdout, console: consoleLines };
}
