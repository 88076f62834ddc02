/**
 * The chart panels light what the records name, in Chromium: at a record that moved a region other
 * than the one on top (an IRET puts the IRQ region back at idle; the VMM's KVM_RUN ioctl moves the
 * vCPU), every region's path in the panel is the leaf the records last named for it — worked out
 * here from the records' `leaves`, `to` and `guestLeaves`, not from the viewer's model — and
 * nothing is marked inferred. A version 1 trace (no leaves) shows no states and says why.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startViewer } from '../../src/viz/site.js';
import { asVersion1, formatRecord, type TraceRecord } from '../../src/trace/records.js';
import type { Viewer } from '../../src/viz/page/viewer.js';
import { builtin, traceText } from './helpers.js';
import { ensurePageBundle, launchBrowser, runBrowser } from './browser-env.js';

declare global {
  interface Window {
    shootdownViewer?: Viewer;
  }
}

const REGIONS = ['task', 'irq', 'nmi', 'smm'];

/** CPU `cpu`'s leaf per region after record `at`, from the records' `leaves` alone ('cpu' for a leaf outside os). */
function recordedLeaves(records: TraceRecord[], cpu: number, at: number): Map<string, string> {
  const leaves = new Map<string, string>(REGIONS.map((r) => [r, `os.${r}.idle`]));
  for (const r of records.slice(0, at + 1)) {
    if (!('leaves' in r) || !r.leaves || !('cpu' in r) || r.cpu !== cpu) continue;
    for (const path of r.leaves) {
      if (!path.startsWith('os.')) {
        leaves.clear();
        leaves.set('cpu', path);
      } else {
        leaves.delete('cpu');
        leaves.set(path.split('.')[1] as string, path);
      }
    }
  }
  return leaves;
}

describe.skipIf(!runBrowser)('chart panels light the leaves the records name', () => {
  let browser: Browser;
  const errors: string[] = [];

  async function open(url: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(url);
    await page.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });
    return page;
  }

  /** Each path line of a panel: region → path. */
  const pathLines = (page: Page, panel: string) =>
    page.locator(`${panel} .path-line`).evaluateAll((els) => els.map((e) => [e.querySelector('.region')?.textContent ?? '', e.querySelector('.path')?.getAttribute('title') ?? '']));

  beforeAll(async () => {
    await ensurePageBundle();
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('T7: at an IRET (the IRQ region back at idle, the task on top), each region shows its recorded leaf', async () => {
    const text = traceText(builtin('T7'));
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord);
    // A step whose leaves name a region other than the one its `to` is in.
    const iret = records.findIndex((r) => r.t === 'step' && r.leaves !== undefined && r.leaves.length > 0 && !r.leaves.includes(r.to));
    expect(iret).toBeGreaterThan(0);
    const step = records[iret] as Extract<TraceRecord, { t: 'step' }>;
    expect(step).toMatchObject({ ctx: 'irq', to: 'os.task.idle', leaves: ['os.irq.idle'] });
    const served = await startViewer({ trace: text, source: 'T7' });
    try {
      const page = await open(`${served.url}#step=${iret}&cpus=${step.cpu}`);
      const panel = `.panel[data-cpu="${step.cpu}"]`;
      // The record before: the IRQ handler on top at iret.
      expect(await page.locator(`${panel} .path-line.on-top .path`).getAttribute('title')).toBe(step.from);
      await page.evaluate((i) => window.shootdownViewer?.go(i), iret);
      const want = recordedLeaves(records, step.cpu, iret);
      expect(want.get('irq')).toBe('os.irq.idle');
      expect(await pathLines(page, panel)).toEqual(REGIONS.map((r) => [r, want.get(r)]));
      expect(await page.locator(`${panel} .path-line.on-top .path`).getAttribute('title')).toBe(step.to);
      expect(await page.locator(`${panel} g.state.lit .label`).allTextContents()).toEqual(['idle']);
      expect(await page.locator('.inferred-tag, .inferred').count()).toBe(0);
      await page.close();
    } finally {
      await served.close();
    }
    expect(errors).toEqual([]);
  }, 120_000);

  it("T14: at the VMM's KVM_RUN ioctl the vCPU panel lights the leaf the ioctl record names", async () => {
    const text = traceText(builtin('T14'));
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord);
    const call = records.findIndex((r) => r.t === 'ioctl' && r.phase === 'call' && r.name === 'KVM_RUN' && r.guestLeaves?.vcpu0 !== undefined);
    expect(call).toBeGreaterThan(0);
    const leaf = (records[call] as Extract<TraceRecord, { t: 'ioctl' }>).guestLeaves?.vcpu0 as string;
    const served = await startViewer({ trace: text, source: 'T14' });
    try {
      const page = await open(`${served.url}#step=${call}&cpus=1&actors=vcpu0`);
      const panel = '.panel[data-actor="vcpu0"]';
      const before = await page.locator(`${panel} .path-line .path`).getAttribute('title');
      expect(before).not.toBe(leaf);
      await page.evaluate((i) => window.shootdownViewer?.go(i), call);
      expect(await page.locator(`${panel} .path-line .path`).getAttribute('title')).toBe(leaf);
      expect(await page.locator(`${panel} g.state.lit .label`).allTextContents()).toEqual([leaf.split('.').pop()]);
      await page.close();
    } finally {
      await served.close();
    }
    expect(errors).toEqual([]);
  }, 120_000);

  it('a version 1 trace: no state lit, and the page says the trace names no leaves', async () => {
    const v1 = traceText(builtin('T5'))
      .trim()
      .split('\n')
      .map((l) => formatRecord(asVersion1(JSON.parse(l) as TraceRecord)))
      .join('\n');
    expect(v1).not.toContain('"leaves"');
    const served = await startViewer({ trace: v1 + '\n', source: 'T5 v1' });
    try {
      const page = await open(`${served.url}#step=40&cpus=1`);
      expect(await page.locator('.no-leaves').textContent()).toBe('version 1 trace: no states shown');
      expect(await page.locator('.panel[data-cpu="1"] .panel-status').textContent()).toContain('version 1 trace');
      expect(await page.locator('g.state.lit, g.state.lit-idle').count()).toBe(0);
      expect(await page.locator('.path-line').count()).toBe(0);
      await page.close();
    } finally {
      await served.close();
    }
    expect(errors).toEqual([]);
  }, 120_000);
});
