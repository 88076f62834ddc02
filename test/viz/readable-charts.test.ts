/**
 * The CPU charts read at the sizes people use (1280×800 and 1920×1080), measured from the DOM of a
 * real Chromium: T5 at the NMI delivery, where CPU1 has two regions active (the task interrupted
 * in clearVmxe, the NMI handler at dispatch). "fit" lays out an overview whose state text stays
 * at least 9 px on screen; state labels neither overlap nor run out of their boxes; the scheduler
 * events' edge labels (`sched.*`) show only when asked; the two region views of CPU1 stack rather
 * than squeeze; the state paths above the charts stay inside the panel.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startViewer, type RunningViewer } from '../../src/viz/site.js';
import type { Viewer } from '../../src/viz/page/viewer.js';
import { builtin, traceText } from './helpers.js';
import { ensurePageBundle, launchBrowser, ROOT as root, runBrowser, SHOTS as shots } from './browser-env.js';

const docsShots = Boolean(process.env.SHOOTDOWN_DOCS_SCREENSHOT);

declare global {
  interface Window {
    shootdownViewer?: Viewer;
  }
}

interface Label {
  view: number;
  text: string;
  /** Font size on screen: the computed size times the view's zoom. */
  px: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  boxLeft: number;
  boxRight: number;
  /** Its width when bold, as a lit state's label is drawn. */
  boldWidth: number;
  visible: boolean;
}

/** Every state label and title in a panel's chart views, with its box, as drawn. */
function labels(page: Page, cpu: number): Promise<Label[]> {
  return page.evaluate((c) => {
    const out: Label[] = [];
    const views = [...document.querySelectorAll(`.panel[data-cpu="${c}"] .chart-view`)];
    views.forEach((v, view) => {
      const frame = (v.querySelector('svg.chart-svg') as SVGSVGElement).getBoundingClientRect();
      for (const t of v.querySelectorAll<SVGTextElement>('g.state > text.label, g.state > text.title')) {
        const r = t.getBoundingClientRect();
        const box = ((t.parentNode as Element).querySelector(':scope > rect.box') as SVGRectElement).getBoundingClientRect();
        const ctm = t.getScreenCTM() as DOMMatrix;
        const shown = getComputedStyle(t).display !== 'none' && r.width > 0;
        const inFrame = r.right > frame.left && r.left < frame.right && r.bottom > frame.top && r.top < frame.bottom;
        const weight = t.style.fontWeight;
        t.style.fontWeight = '700';
        const boldWidth = t.getBoundingClientRect().width;
        t.style.fontWeight = weight;
        out.push({
          view,
          text: t.textContent ?? '',
          px: Number.parseFloat(getComputedStyle(t).fontSize) * Math.hypot(ctm.a, ctm.b),
          height: r.height,
          left: r.left,
          right: r.right,
          top: r.top,
          bottom: r.bottom,
          boxLeft: box.left,
          boxRight: box.right,
          boldWidth,
          visible: shown && inFrame,
        });
      }
    });
    return out;
  }, cpu);
}

/** The edge labels drawn (not display:none) in a panel's views. */
function edgeLabels(page: Page, cpu: number): Promise<string[]> {
  return page.evaluate(
    (c) =>
      [...document.querySelectorAll<SVGTextElement>(`.panel[data-cpu="${c}"] .chart-view text.edge-label`)]
        .filter((t) => getComputedStyle(t).display !== 'none' && t.getBoundingClientRect().width > 0)
        .map((t) => t.textContent ?? ''),
    cpu,
  );
}

function overlaps(a: Label, b: Label): boolean {
  const eps = 0.5;
  return a.left < b.right - eps && b.left < a.right - eps && a.top < b.bottom - eps && b.top < a.bottom - eps;
}

/** The label checks at any moment: legible, inside its box, no two on top of each other. */
function checkLabels(all: Label[], where: string): void {
  const visible = all.filter((l) => l.visible);
  expect(visible.length, `${where}: labels in sight`).toBeGreaterThan(3);
  for (const l of visible) {
    expect(l.px, `${where}: font of ${l.text}`).toBeGreaterThanOrEqual(9);
    expect(l.height, `${where}: height of ${l.text}`).toBeGreaterThanOrEqual(9);
  }
  for (const l of all.filter((x) => x.right > x.left)) {
    expect(l.left, `${where}: ${l.text} starts inside its box`).toBeGreaterThanOrEqual(l.boxLeft - 0.5);
    expect(l.right, `${where}: ${l.text} ends inside its box`).toBeLessThanOrEqual(l.boxRight + 0.5);
    // Lit, the label is bold: it must fit then too, clear of the box's border.
    expect(l.boldWidth, `${where}: ${l.text} in bold fits its box`).toBeLessThanOrEqual(l.boxRight - l.boxLeft - 6);
  }
  for (let v = 0; v < 3; v++) {
    const inView = visible.filter((l) => l.view === v);
    for (let i = 0; i < inView.length; i++)
      for (let j = i + 1; j < inView.length; j++) {
        const a = inView[i] as Label;
        const b = inView[j] as Label;
        expect(overlaps(a, b), `${where}: ${a.text} and ${b.text} overlap`).toBe(false);
      }
  }
}

describe.skipIf(!runBrowser)('readable charts (T5 at the NMI delivery on CPU1)', () => {
  const text = traceText(builtin('T5'));
  const lines = text.trimEnd().split('\n');
  const nmiAt = lines.findIndex((l) => l.includes('"t":"deliver"') && l.includes('"cpu":1,"mode":"nmi"'));
  let browser: Browser;
  let viewer: RunningViewer;
  const errors: string[] = [];

  beforeAll(async () => {
    await ensurePageBundle();
    browser = await launchBrowser();
    viewer = await startViewer({ trace: text, source: 'T5: nmi-between-vmxoff-and-cr4-clear' });
  }, 120_000);

  afterAll(async () => {
    await viewer?.close();
    await browser?.close();
  });

  for (const [width, height] of [
    [1280, 800],
    [1920, 1080],
  ] as const) {
    describe(`at ${width}×${height}`, () => {
      let page: Page;
      const cpu1 = () => page.locator('.panel[data-cpu="1"]');

      beforeAll(async () => {
        page = await browser.newPage({ viewport: { width, height } });
        page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
        page.on('console', (msg) => {
          if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
        });
        await page.goto(`${viewer.url}#step=${nmiAt + 1}&cpus=1,2`);
        await page.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });
        await page.waitForFunction((at) => window.shootdownViewer?.pos === at, nmiAt);
        await cpu1().locator('.chart-view').nth(1).waitFor();
      }, 120_000);

      afterAll(async () => {
        await page?.close();
      });

      it('CPU1 has the task and NMI views, stacked rather than squeezed, and its state paths stay inside the panel', async () => {
        expect(await cpu1().locator('.view-caption').allTextContents()).toEqual(['task · interrupted', 'nmi · executing']);
        const boxes = await cpu1().locator('.chart-view').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
        const [a, b] = boxes as [DOMRect, DOMRect];
        const stacked = b.top >= a.bottom - 1 && Math.abs(a.left - b.left) < 1;
        if (!stacked) {
          expect(a.width).toBeGreaterThanOrEqual(500);
          expect(b.width).toBeGreaterThanOrEqual(500);
        }
        // Stacked, each view has the panel's whole width.
        if (stacked) expect(a.width).toBeGreaterThan(((await cpu1().boundingBox())?.width ?? 0) - 4);
        const paths = await cpu1()
          .locator('.path-line .path')
          .evaluateAll((els) =>
            els.map((e) => {
              const box = (e.closest('.panel-paths') as HTMLElement).getBoundingClientRect();
              const r = e.getBoundingClientRect();
              return { text: e.textContent, title: e.getAttribute('title'), right: r.right, boxRight: box.right, scroll: e.scrollWidth, client: e.clientWidth };
            }),
          );
        expect(paths.map((p) => p.text)).toContain('os.task.emergencyRestart.selfVirt.cbVmxoff.clearVmxe');
        for (const p of paths) {
          expect(p.title).toBe(p.text);
          expect(p.right, `${p.text} inside the panel`).toBeLessThanOrEqual(p.boxRight + 0.5);
          expect(p.scroll, `${p.text} not cut`).toBeLessThanOrEqual(p.client);
        }
      });

      it('at the first zoom, state labels read, fit their boxes and do not overlap', async () => {
        await page.waitForFunction(() => [...document.querySelectorAll('.panel[data-cpu="1"] .chart-view g.viewport')].every((g) => g.getAttribute('transform') !== null));
        checkLabels(await labels(page, 1), 'CPU1 focused');
        checkLabels(await labels(page, 2), 'CPU2 focused');
      });

      it('scheduler events label no edge until the sched.* box is ticked', async () => {
        const before = await edgeLabels(page, 1);
        expect(before.length).toBeGreaterThan(0);
        expect(before.filter((l) => l.includes('sched.'))).toEqual([]);
        await cpu1().locator('.sched-box').check();
        const after = await edgeLabels(page, 1);
        expect(after.filter((l) => l.includes('sched.')).length).toBeGreaterThan(0);
        // The other panel keeps its own setting.
        expect((await edgeLabels(page, 2)).filter((l) => l.includes('sched.'))).toEqual([]);
        await cpu1().locator('.sched-box').uncheck();
        expect((await edgeLabels(page, 1)).filter((l) => l.includes('sched.'))).toEqual([]);
      });

      it('"fit" shows an overview whose text stays legible, the active states lit; a click opens a closed state', async () => {
        const drawnBefore = await cpu1().locator('.chart-view').nth(0).locator('g.state').count();
        await cpu1().locator('button', { hasText: 'fit' }).click();
        await page.waitForFunction(() => document.querySelector('.panel[data-cpu="1"]')?.getAttribute('data-overview-depth') !== null, null, { timeout: 60_000 });
        const views = cpu1().locator('.chart-view');
        // Fewer states than the trace's layout draws: deep compound states closed.
        expect(await views.nth(0).locator('g.state').count()).toBeLessThan(drawnBefore);
        expect(await views.nth(0).locator('g.state.closed').count()).toBeGreaterThan(0);
        // The active path stays open down to each region's state.
        expect(await views.nth(0).locator('g.state.lit-idle .label').allTextContents()).toContain('clearVmxe');
        expect(await views.nth(1).locator('g.state.lit .label').allTextContents()).toEqual(['dispatch']);
        const all = await labels(page, 1);
        checkLabels(all, `CPU1 fit at ${width}`);
        // The lit states are in sight.
        for (const [v, name] of [
          [0, 'clearVmxe'],
          [1, 'dispatch'],
        ] as const)
          expect(all.some((l) => l.view === v && l.text === name && l.visible), `${name} in sight`).toBe(true);
        // The other panel draws the new layout too: its active state still open, lit and in sight.
        const other = await labels(page, 2);
        expect(other.some((l) => l.text === 'waitAcks' && l.visible), 'CPU2 waitAcks in sight').toBe(true);
        checkLabels(other, `CPU2 after CPU1's fit at ${width}`);
        await page.screenshot({ path: path.join(shots, `fit-${width}x${height}.png`) });
        if (docsShots && width === 1280) await page.screenshot({ path: path.join(root, 'docs', 'viewer-fit.png') });

        // A closed state opens on a click (in a 1280 px window none may be in sight at a legible zoom).
        const closed = views.nth(0).locator('g.state.closed').first();
        const index = await closed.getAttribute('data-i');
        await closed.locator('rect.box').dispatchEvent('click');
        await page.waitForFunction((i) => document.querySelector(`.panel[data-cpu="1"] g.state.open[data-i="${i}"]`) !== null, index, { timeout: 60_000 });
      });
    });
  }

  it('no page errors', () => {
    expect(errors).toEqual([]);
  });
});
