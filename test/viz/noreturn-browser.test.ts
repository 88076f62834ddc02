/**
 * A counterexample written by `shootdown explore`, opened with `shootdown view FILE` in Chromium:
 * its timeline shows the point of no return where the trace's `noreturn` record stands (a marker
 * with the words, which jumps there), the violations list links the property to it, and a property
 * or a run without one has no mark.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { main } from '../../src/cli/main.js';
import { viewCommand } from '../../src/cli/viz-commands.js';
import { startViewer, type RunningViewer } from '../../src/viz/site.js';
import type { Viewer } from '../../src/viz/page/viewer.js';
import { withKernel } from '../../src/cli/scenario-args.js';
import { memoryIo } from '../cli/memory-io.js';
import { builtin, traceText } from './helpers.js';
import { ensurePageBundle, launchBrowser, runBrowser } from './browser-env.js';

declare global {
  interface Window {
    shootdownViewer?: Viewer;
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-noreturn-browser-'));
const position = (page: Page) => page.evaluate(() => window.shootdownViewer?.pos ?? -1);

describe.skipIf(!runBrowser)('the point of no return in the viewer', () => {
  let browser: Browser;
  let served: RunningViewer | null = null;
  let page: Page;
  const errors: string[] = [];
  let file = '';
  /** The noreturn record's index in the trace (the viewer's record index). */
  let at = -1;
  let count = 0;

  beforeAll(async () => {
    await ensurePageBundle();
    browser = await launchBrowser();
    const t = memoryIo();
    expect(await main(['explore', 'R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--json', '--out', dir], t.cli)).toBe(1);
    file = (JSON.parse(t.out()) as { violations: { traceFile: string }[] }).violations[0]?.traceFile as string;
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    at = lines.findIndex((l) => l.includes('"t":"noreturn"'));
    count = lines.length;
    const v = memoryIo();
    expect(await viewCommand([file, '--port', '0'], v.cli, { onServer: (s) => (served = s) }), v.err()).toBe(0);
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto((served as RunningViewer | null)?.url ?? '');
    await page.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });
  }, 180_000);

  afterAll(async () => {
    await served?.close();
    await browser?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the timeline has one marker, for the record explore wrote, where that record lies on the strip', async () => {
    expect(at).toBeGreaterThan(1);
    const marker = page.locator('.noreturn-mark');
    expect(await marker.count()).toBe(1);
    expect(await marker.getAttribute('data-at')).toBe(String(at));
    expect(await marker.getAttribute('data-property')).toBe('no-kernel-bug');
    expect(await marker.getAttribute('title')).toMatch(new RegExp(`^line ${at + 1}: ◆ point of no return for no-kernel-bug: choice \\d+ \\(decision \\d+ of the run`));
    // Trace order on the axis (the default): record i at i / (count − 1) of the strip's width.
    const strip = await page.locator('.timeline-canvas').boundingBox();
    const box = await marker.boundingBox();
    if (!strip || !box) throw new Error('no timeline or no marker on screen');
    const expected = strip.x + (at / (count - 1)) * strip.width;
    expect(Math.abs(box.x + box.width / 2 - expected)).toBeLessThan(3);
    // It sits on the line drawn on the canvas too, in the mark's colour (#5f3dc4).
    const pixel = await page.evaluate((x) => {
      const c = document.querySelector('.timeline-canvas') as HTMLCanvasElement;
      const r = c.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      // The mark is 2 px wide from the floor of its x.
      return Array.from(c.getContext('2d')?.getImageData(Math.floor((Math.floor(x - r.left) + 1) * dpr), Math.round(30 * dpr), 1, 1).data ?? []);
    }, expected);
    expect(pixel.slice(0, 3)).toEqual([0x5f, 0x3d, 0xc4]);
  });

  it('clicking the marker goes to the point of no return', async () => {
    await page.evaluate(() => window.shootdownViewer?.go(0));
    await page.locator('.noreturn-mark').click();
    expect(await position(page)).toBe(at);
    expect(await page.locator('.log-row.current .c-text').textContent()).toMatch(/^◆ point of no return for no-kernel-bug: /);
  });

  it('the violations list links the property to it; a property without a mark has no link', async () => {
    await page.evaluate(() => window.shootdownViewer?.go(0));
    await page.locator('button.verdict.bad').click();
    const bug = page.locator('.violation-item', { has: page.locator('.v-property', { hasText: /^no-kernel-bug$/ }) });
    const link = bug.locator('.noreturn-link');
    expect(await link.count()).toBe(1);
    expect(await link.textContent()).toBe(`point of no return: line ${at + 1}`);
    const others = page.locator('.violation-item', { hasNot: page.locator('.v-property', { hasText: /^no-kernel-bug$/ }) });
    // The counterexample's run violates other properties too; explore marked only this one's point.
    expect(await others.count()).toBeGreaterThan(0);
    expect(await others.locator('.noreturn-link').count()).toBe(0);
    await link.click();
    expect(await position(page)).toBe(at);
    expect(await page.locator('.violation-list').isHidden()).toBe(true);
  });

  it('a run that is not a counterexample has no marker, though it has violations', async () => {
    // T5 on v5.11: the R2 race, timed, with its BUG (a run, not explore's counterexample).
    const plain = await startViewer({ trace: traceText(withKernel(builtin('T5'), 'v5.11', [], [])), source: 'T5' });
    try {
      const p = await browser.newPage({ viewport: { width: 1200, height: 800 } });
      await p.goto(plain.url);
      await p.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });
      expect(await p.locator('button.verdict.bad').count()).toBeGreaterThan(0);
      expect(await p.locator('.noreturn-mark').count()).toBe(0);
      expect(await p.locator('.noreturn-link').count()).toBe(0);
      await p.close();
    } finally {
      await plain.close();
    }
  }, 120_000);

  it('no page errors', () => {
    expect(errors).toEqual([]);
  });
});
