/**
 * What every Chromium test shares: Debian's Chromium driven by playwright-core with the flags this
 * machine needs, whether browser tests run here (they are skipped only where there is no
 * /usr/bin/chromium and CI is not set: in CI they must run), where screenshots go, and the page bundle
 * built on demand for a bare checkout.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { pageBundleDir } from '../../src/viz/site.js';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
export const runBrowser = fs.existsSync(CHROMIUM) || Boolean(process.env.CI);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHOTS = process.env.SHOOTDOWN_SCREENSHOTS ?? path.join(os.tmpdir(), 'shootdown-viewer-screenshots');

/** Chromium, with the screenshot folder made. */
export async function launchBrowser(): Promise<Browser> {
  fs.mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** `npm ci` builds the page; a bare checkout running vitest directly builds it here. */
export async function ensurePageBundle(): Promise<void> {
  if (fs.existsSync(path.join(pageBundleDir(), 'viewer.js'))) return;
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'src/viz/page/vite.config.ts') });
}
