/**
 * The viewer as a debugger, in Chromium: T5 on a v5.11 kernel (an NMI shootdown racing an emergency
 * restart, three violations). The badge lists the violations and jumps to each where its property's
 * observer found it; n and p step between findings; the record search looks at every record; the
 * sequence chart's filter hides a message class and narrows the lifelines; the timeline zooms into
 * the microseconds where the race is, and its legend hides what it names.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { withKernel } from '../../src/cli/scenario-args.js';
import { startViewer, traceViolations, type RunningViewer } from '../../src/viz/site.js';
import { traceModel, type TraceModel } from '../../src/viz/trace-model.js';
import type { Viewer } from '../../src/viz/page/viewer.js';
import { builtin, chart, traceText } from './helpers.js';
import { ensurePageBundle, launchBrowser, ROOT as root, runBrowser, SHOTS as shots } from './browser-env.js';

const docsShots = Boolean(process.env.SHOOTDOWN_DOCS_SCREENSHOT);

declare global {
  interface Window {
    shootdownViewer?: Viewer;
  }
}

const position = (page: Page) => page.evaluate(() => window.shootdownViewer?.pos ?? -1);
const view = (page: Page) => page.evaluate(() => ({ ...(window.shootdownViewer?.timeline.view ?? { lo: -1, hi: -1 }) }));

describe.skipIf(!runBrowser)('the viewer as a debugger (T5, kernel v5.11)', () => {
  const text = traceText(withKernel(builtin('T5'), 'v5.11', [], []));
  const lines = text.trimEnd().split('\n');
  const violations = traceViolations(lines);
  const m = traceModel(chart, text, violations) as TraceModel;
  let browser: Browser;
  let viewer: RunningViewer;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    await ensurePageBundle();
    browser = await launchBrowser();
    viewer = await startViewer({ trace: text, source: 'T5 on v5.11' });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    await page.goto(viewer.url);
    await page.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });
  }, 120_000);

  afterAll(async () => {
    await viewer?.close();
    await browser?.close();
  });

  it('each violation is placed at the record where its observer reported it', () => {
    expect(violations.length).toBeGreaterThanOrEqual(2);
    for (const v of violations) {
      expect(v.at).toBeGreaterThanOrEqual(0);
      const at = v.at as number;
      // The observer reports no earlier than the record that shows the failure.
      if (v.property === 'no-kernel-bug') expect(lines[at]).toMatch(/BUG|"handling":"bug"|"fault"/);
      if (v.property === 'shootdown-acked') expect(at).toBeGreaterThan(lines.findIndex((l) => l.includes('"mode":"nmi"')));
    }
  });

  it('the badge counts properties, not violations, and opens the list; a click goes to the violation', async () => {
    const properties = new Set(violations.map((v) => v.property));
    const badge = page.locator('button.verdict.bad');
    expect(await badge.textContent()).toContain(`${properties.size} propert${properties.size === 1 ? 'y' : 'ies'} violated`);
    expect(await page.locator('.violation-list').isVisible()).toBe(false);
    await badge.click();
    const items = page.locator('.violation-item');
    expect(await items.count()).toBe(violations.length);
    expect(await items.locator('.v-property').allTextContents()).toEqual(violations.map((v) => v.property));
    expect(await items.locator('.v-line').allTextContents()).toEqual(violations.map((v) => `line ${(v.at as number) + 1}`));
    await page.screenshot({ path: path.join(shots, 'violation-list.png') });
    if (docsShots) await page.screenshot({ path: path.join(root, 'docs', 'viewer-violations.png') });
    const last = violations.length - 1;
    await items.nth(last).click();
    expect(await position(page)).toBe(violations[last]?.at);
    expect(await page.locator('.violation-list').isVisible()).toBe(false);
    await badge.click();
    await items.nth(0).click();
    expect(await position(page)).toBe(violations[0]?.at);
  });

  it('n and p step between violations, faults, BUGs and WARN splats', async () => {
    const findings = [...new Set(m.marks.filter((k) => ['violation', 'bug', 'fault', 'warn'].includes(k.kind)).map((k) => k.at))].sort((a, b) => a - b);
    expect(findings.length).toBeGreaterThanOrEqual(2);
    await page.keyboard.press('Home');
    expect(await position(page)).toBe(0);
    await page.keyboard.press('n');
    expect(await position(page)).toBe(findings[0]);
    await page.keyboard.press('n');
    expect(await position(page)).toBe(findings[1]);
    await page.keyboard.press('p');
    expect(await position(page)).toBe(findings[0]);
  });

  it('the record search looks at every record, memory writes included, and Enter goes to the next match', async () => {
    const search = page.locator('.log-search');
    const term = 'panic_cpu';
    const want = lines.filter((l) => l.includes(term)).length;
    expect(want).toBeGreaterThan(0);
    await search.fill(term);
    await page.waitForFunction((n) => document.querySelector('.log-count')?.textContent === `${n} match${n === 1 ? '' : 'es'}`, want);
    const rows = await page.locator('.log-row .c-text').allTextContents();
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.toLowerCase()).toContain(term);
    expect(await page.locator('.log-row.kind-mem').count()).toBeGreaterThan(0);
    await page.keyboard.press('Home');
    await search.focus();
    await page.keyboard.press('Enter');
    const at = await position(page);
    expect(lines[at]).toContain(term);
    await search.fill('');
    await page.waitForFunction(() => document.querySelector('.log-count')?.textContent === '');
  });

  it('the sequence chart filter hides NMIs and narrows the lifelines', async () => {
    const nmiAt = lines.findIndex((l) => l.includes('"t":"deliver"') && l.includes('"mode":"nmi"'));
    await page.evaluate((i) => window.shootdownViewer?.go(i), nmiAt);
    await page.waitForFunction(() => document.querySelectorAll('g.arrow.nmi').length > 0);
    await page.locator('.msc-filter summary').click();
    await page.locator('input[data-category="nmi"]').uncheck();
    await page.waitForFunction(() => document.querySelectorAll('g.arrow.nmi').length === 0);
    expect(await page.locator('g.msc-event.send.nmi').count()).toBe(0);
    await page.locator('input[data-category="nmi"]').check();
    await page.waitForFunction(() => document.querySelectorAll('g.arrow.nmi').length > 0);
    await page.locator('.msc-lanes-input').fill('1,2');
    await page.locator('.msc-lanes-input').press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('.msc-lanes .lane-label')].map((e) => e.textContent).join() === 'CPU1,CPU2');
    await page.locator('.msc-lanes-input').fill('');
    await page.locator('.msc-lanes-input').press('Enter');
    await page.locator('.msc-filter summary').click();
  });

  it('the timeline zooms into the first microseconds on the time axis; Shift+drag zooms to a stretch; double-click shows the whole run', async () => {
    const canvas = page.locator('.timeline-canvas');
    await page.locator('.timeline button.axis').click();
    // The strip redraws on the next animation frame.
    await page.waitForFunction(() => document.querySelector('.timeline-scale')?.textContent?.startsWith('virtual time'));
    const box = (await canvas.boundingBox()) as { x: number; y: number; width: number; height: number };
    // The wheel at the strip's left edge zooms into the run's first microseconds, where the race is.
    await page.mouse.move(box.x, box.y + box.height / 2);
    const maxNs = m.ns[m.count - 1] as number;
    // On the whole axis the first microsecond, where 110 of the 166 records are, is under one pixel.
    expect((1_000 / maxNs) * box.width).toBeLessThan(1);
    for (let k = 0; k < 60 && (await view(page)).hi * maxNs > 2_000; k++) await page.mouse.wheel(0, -400);
    const zoomed = await view(page);
    expect(zoomed.lo).toBe(0);
    expect(zoomed.hi * maxNs).toBeLessThanOrEqual(2_000);
    expect(zoomed.hi * maxNs).toBeGreaterThan(500);
    const inView = Array.from(m.ns).filter((ns) => ns <= zoomed.hi * maxNs).length;
    expect(inView).toBeGreaterThan(100);
    await page.waitForFunction(() => document.querySelector('.timeline-scale')?.textContent?.includes('zoom ×'));
    // A click in the zoomed strip lands on a record inside the stretch shown.
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const at = await position(page);
    expect(m.ns[at] as number).toBeLessThanOrEqual(zoomed.hi * maxNs);
    await page.screenshot({ path: path.join(shots, 'timeline-zoomed.png'), clip: { x: 0, y: 0, width: 1600, height: 200 } });
    if (docsShots) await page.screenshot({ path: path.join(root, 'docs', 'viewer-timeline-zoom.png'), clip: { x: 0, y: 0, width: 1600, height: 200 } });
    await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForFunction(() => window.shootdownViewer?.timeline.view.hi === 1);
    expect(await view(page)).toEqual({ lo: 0, hi: 1 });
    // Shift+drag over the middle half.
    await page.keyboard.down('Shift');
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    const half = await view(page);
    expect(half.lo).toBeCloseTo(0.25, 2);
    expect(half.hi).toBeCloseTo(0.75, 2);
    await page.keyboard.press('0');
    expect(await view(page)).toEqual({ lo: 0, hi: 1 });
    await page.locator('.timeline button.axis').click();
  });

  it('the legend names each colour; a click hides those marks and a second shows them', async () => {
    const names = await page.locator('.legend-item').allTextContents();
    expect(names).toEqual(expect.arrayContaining(['violation', 'NMI']));
    const nmi = page.locator('.legend-item[data-key="mode-nmi"]');
    await nmi.click();
    expect(await nmi.getAttribute('class')).toContain('off');
    await nmi.click();
    expect(await nmi.getAttribute('class')).not.toContain('off');
  });

  it('a click on an arrow where it crosses another CPU\'s lane goes to that arrow\'s delivery, not to the event there', async () => {
    await page.evaluate(() => window.shootdownViewer?.msc.setLaneFilter(null));
    // CPU2's shootdown NMI to CPU0 crosses CPU1's lifeline.
    const nmiTo0 = lines.findIndex((l) => l.includes('"t":"deliver"') && l.includes('"cpu":0') && l.includes('"mode":"nmi"'));
    expect(nmiTo0).toBeGreaterThan(0);
    await page.evaluate((i) => window.shootdownViewer?.go(i), nmiTo0);
    const arrow = page.locator(`g.arrow.nmi[data-cpu="0"][data-at="${nmiTo0}"] line.shaft`);
    await arrow.waitFor();
    const geo = await arrow.evaluate((el) => {
      const line = el as unknown as SVGLineElement;
      const svg = line.ownerSVGElement as SVGSVGElement;
      const r = svg.getBoundingClientRect();
      const g = line.parentElement?.parentElement as unknown as SVGGElement;
      const dy = Number(/translate\(0,(-?[\d.]+)\)/.exec(g.getAttribute('transform') ?? '')?.[1] ?? 0);
      const n = (a: string) => Number(line.getAttribute(a));
      const lane1 = [...document.querySelectorAll('.msc-lanes .lane-label')].find((e) => e.textContent === 'CPU1') as HTMLElement;
      const x = Number.parseFloat(lane1.style.left);
      const t = (x - n('x1')) / (n('x2') - n('x1'));
      return { px: r.left + x, py: r.top + n('y1') + t * (n('y2') - n('y1')) + dy };
    });
    await page.evaluate(() => window.shootdownViewer?.go(0));
    await page.evaluate((i) => window.shootdownViewer?.go(i), nmiTo0);
    await page.mouse.click(geo.px, geo.py);
    expect(await position(page)).toBe(nmiTo0);
  });

  it('the sequence chart resizes, goes full width with labels uncut, and saves the whole trace as SVG that renders', async () => {
    const right = page.locator('.right');
    const before = (await right.boundingBox())?.width ?? 0;
    const bar = (await page.locator('.splitter').boundingBox()) as { x: number; y: number; width: number; height: number };
    await page.mouse.move(bar.x + 2, bar.y + 200);
    await page.mouse.down();
    await page.mouse.move(bar.x - 300, bar.y + 200, { steps: 4 });
    await page.mouse.up();
    expect((await right.boundingBox())?.width ?? 0).toBeGreaterThan(before + 250);
    await page.locator('button.msc-wide').click();
    expect(await page.locator('.left').isVisible()).toBe(false);
    expect((await right.boundingBox())?.width ?? 0).toBeGreaterThan(1500);
    const panicAt = lines.findIndex((l) => l.includes('Kernel panic - not syncing'));
    await page.evaluate((i) => window.shootdownViewer?.go(i), panicAt);
    await page.waitForFunction(() => [...document.querySelectorAll('g.msc-event.console text')].some((t) => t.textContent?.includes('(race R2)')));
    await page.locator('button.msc-wide').click();
    expect(await page.locator('.left').isVisible()).toBe(true);

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('button.msc-svg-export').click()]);
    const file = path.join(shots, 'msc.svg');
    await download.saveAs(file);
    const svg = fs.readFileSync(file, 'utf8');
    expect(svg).toBe(await page.evaluate(() => window.shootdownViewer?.msc.exportSvg() ?? ''));
    // Every delivery of the trace is an arrow in the file, and it draws: Chromium opens the file itself.
    const own = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await own.goto(pathToFileURL(file).href);
    const drawn = await own.evaluate(() => {
      const root = document.documentElement as unknown as SVGSVGElement;
      const box = (root.querySelector('g') as SVGGElement).getBBox();
      return { tag: root.tagName, arrows: root.querySelectorAll('g.arrow').length, events: root.querySelectorAll('g.msc-event').length, width: box.width, height: box.height };
    });
    await own.screenshot({ path: path.join(shots, 'msc-export.png') });
    await own.close();
    expect(drawn.tag).toBe('svg');
    expect(drawn.arrows).toBe(m.deliveries.length);
    expect(drawn.events).toBe(m.mscRows.length);
    expect(drawn.width).toBeGreaterThan(600);
    expect(drawn.height).toBeGreaterThan(m.mscRows.length * 15);
    expect(svg).toContain('Kernel panic - not syncing');
  });

  it('no page errors', () => {
    expect(errors).toEqual([]);
  });
});
