/**
 * The sequence chart of a vsock scenario (T14: a guest reboot reaching the vhost-vsock device) in
 * Chromium: the VMM thread, the device and its vhost worker get lanes; every vhost ioctl is an arrow
 * from the VMM to the device and its return one back (a failure in red); packets, calls and device
 * states sit on their lanes; the filter hides them; the position line counts the guest side's steps.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startViewer, type RunningViewer } from '../../src/viz/site.js';
import type { Viewer } from '../../src/viz/page/viewer.js';
import { builtin, traceText } from './helpers.js';
import { ensurePageBundle, launchBrowser, runBrowser, SHOTS as shots } from './browser-env.js';


declare global {
  interface Window {
    shootdownViewer?: Viewer;
  }
}

describe.skipIf(!runBrowser)('sequence chart of a vsock scenario (T14)', () => {
  const text = traceText(builtin('T14'));
  const lines = text.trimEnd().split('\n');
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const vhostCalls = records.filter((r) => r.t === 'ioctl' && typeof r.dev === 'number' && r.phase === 'call');
  let browser: Browser;
  let viewer: RunningViewer;
  let page: Page;

  beforeAll(async () => {
    await ensurePageBundle();
    browser = await launchBrowser();
    viewer = await startViewer({ trace: text, source: 'T14' });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(viewer.url);
    await page.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });
  }, 120_000);

  afterAll(async () => {
    await viewer?.close();
    await browser?.close();
  });

  it('has lanes for the VMM thread, the device and its vhost worker', async () => {
    const labels = await page.locator('.msc-lanes .lane-label').allTextContents();
    expect(labels).toEqual(expect.arrayContaining(['VMM0', 'vsock0 device', 'vhost worker 0']));
  });

  it('every vhost ioctl is an arrow VMM → device, its return one back, in the whole-trace export', async () => {
    expect(vhostCalls.length).toBeGreaterThan(10);
    const svg = await page.evaluate(() => window.shootdownViewer?.msc.exportSvg() ?? '');
    const calls = svg.match(/class="ioctl-arrow ioctl call/g) ?? [];
    const returns = svg.match(/class="ioctl-arrow ioctl return/g) ?? [];
    expect(calls.length).toBe(vhostCalls.length);
    expect(returns.length).toBe(records.filter((r) => r.t === 'ioctl' && typeof r.dev === 'number' && r.phase === 'return').length);
    for (const name of new Set(vhostCalls.map((r) => String(r.name)))) expect(svg).toContain(`>${name}<`);
    // A call that copies a value out shows it on its return arrow (the call itself returns 0).
    const features = records.find((r) => r.t === 'ioctl' && r.phase === 'return' && r.name === 'VHOST_GET_FEATURES');
    expect(typeof features?.out).toBe('number');
    expect(svg).toContain(`VHOST_GET_FEATURES = 0, copied out ${String(features?.out)}`);
    // Packets the worker took, on the worker's lane.
    const packets = records.filter((r) => r.t === 'vsock' && r.what === 'packet').length;
    expect(packets).toBeGreaterThan(0);
    expect((svg.match(/class="msc-event vsock packet/g) ?? []).length).toBe(packets);
  });

  it('the position line counts the guest side\'s steps (T14 has no CPU steps worth the name)', async () => {
    const steps = records.filter((r) => r.t === 'step' || r.t === 'gstep').length;
    await page.keyboard.press('End');
    await page.waitForFunction((n) => document.querySelector('.where')?.textContent?.includes(`step ${n} / ${n}`), steps);
  });

  it('the filter hides the ioctls and the vsock rows', async () => {
    const first = vhostCalls.length > 0 ? lines.findIndex((l) => l.includes('"t":"ioctl"') && l.includes('"dev"')) : 0;
    await page.evaluate((i) => window.shootdownViewer?.go(i), first);
    await page.waitForFunction(() => document.querySelectorAll('.ioctl-arrow').length > 0);
    await page.screenshot({ path: path.join(shots, 'msc-vsock.png') });
    await page.locator('.msc-filter summary').click();
    await page.locator('input[data-category="ioctl"]').uncheck();
    await page.locator('input[data-category="vsock"]').uncheck();
    await page.waitForFunction(() => document.querySelectorAll('.ioctl-arrow').length === 0 && document.querySelectorAll('g.msc-event.vsock').length === 0);
    await page.locator('input[data-category="ioctl"]').check();
    await page.locator('input[data-category="vsock"]').check();
    await page.locator('.msc-filter summary').click();
  });
});
