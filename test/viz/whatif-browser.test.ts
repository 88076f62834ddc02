/**
 * What-if branches in Chromium: T5's viewer, served, opens the "what if…" panel at a decision of
 * the scheduler, lists what was enabled there with the choice taken marked, and taking another
 * opens the branch at its own address: the same run up to the decision, another one after it,
 * and a link that opens the same branch again. A site written with --out shows the panel with a
 * note that branching needs the server.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { viewCommand } from '../../src/cli/viz-commands.js';
import { startViewer, type RunningViewer } from '../../src/viz/site.js';
import { readTrace } from '../../src/trace/file.js';
import type { Viewer } from '../../src/viz/page/viewer.js';
import { memoryIo } from '../cli/memory-io.js';
import { builtin, traceText } from './helpers.js';
import { ensurePageBundle, launchBrowser, ROOT as root, runBrowser, SHOTS as shots } from './browser-env.js';


declare global {
  interface Window {
    shootdownViewer?: Viewer;
  }
}

const ready = (page: Page) => page.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });

describe.skipIf(!runBrowser)('what-if branches in the viewer (T5)', () => {
  const text = traceText(builtin('T5'));
  const read = readTrace(text);
  if (!read.ok) throw new Error(read.error);
  const { picks, records } = read.trace;
  const K = picks.findIndex((p) => p.kind === 'next');
  const choiceLine = records.findIndex((l) => l.startsWith(`{"t":"choice","i":${K},`));
  let browser: Browser;
  let viewer: RunningViewer;
  let page: Page;
  const errors: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-whatif-page-'));

  beforeAll(async () => {
    await ensurePageBundle();
    browser = await launchBrowser();
    viewer = await startViewer({ trace: text, source: 'T5' });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    // A few records after the decision: the panel shows the nearest decision at or before.
    await page.goto(`${viewer.url}#step=${choiceLine + 3}`);
    await ready(page);
  }, 120_000);

  afterAll(async () => {
    await viewer?.close();
    await browser?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the panel lists the choices enabled at the nearest decision, the one taken marked', async () => {
    expect(K).toBeGreaterThanOrEqual(0);
    await page.click('.whatif-button');
    await page.waitForSelector('.whatif-option');
    expect(await page.textContent('.whatif-title')).toContain(`decision ${K}`);
    const options = await page.$$eval('.whatif-option', (els) => els.map((e) => ({ text: e.querySelector('.whatif-text')?.textContent ?? '', taken: e.classList.contains('taken'), take: e.querySelector('.whatif-take') !== null })));
    expect(options).toHaveLength(picks[K]?.n as number);
    expect(options.filter((o) => o.taken)).toHaveLength(1);
    expect(options.findIndex((o) => o.taken)).toBe(picks[K]?.pick);
    for (const o of options) {
      expect(o.text).toMatch(/^CPU\d+ steps|lands on CPU|fires on CPU|script\[/);
      expect(o.take).toBe(!o.taken);
    }
    await page.screenshot({ path: path.join(shots, 'whatif-panel.png') });
    if (process.env.SHOOTDOWN_DOCS_SCREENSHOT) await page.screenshot({ path: path.join(root, 'docs', 'viewer-whatif.png'), clip: { x: 0, y: 0, width: 1400, height: 420 } });
  });

  it('taking another choice opens the branch: the same run up to the decision, another after it; its link opens it again', async () => {
    const other = await page.$eval('.whatif-option:not(.taken)', (e) => Number(e.getAttribute('data-option')));
    const cpus = new URLSearchParams(new URL(page.url()).hash.slice(1)).get('cpus');
    await Promise.all([page.waitForURL(/\/t\/b\d+\/#step=\d+/, { timeout: 60_000 }), page.click('.whatif-option:not(.taken) .whatif-take')]);
    await ready(page);
    const link = page.url();
    // At the decision, with the CPUs the parent showed.
    const hash = new URLSearchParams(new URL(link).hash.slice(1));
    expect(hash.get('step')).toBe(String(choiceLine + 1));
    expect(hash.get('cpus')).toBe(cpus);
    expect(await page.evaluate(() => window.shootdownViewer?.pos)).toBe(choiceLine);
    const branched = await page.evaluate(async () => {
      const v = window.shootdownViewer as Viewer;
      const lines: string[] = [];
      for (let i = 0; i < v.model.count; i++) lines.push(JSON.stringify(v.model.record(i)));
      return { lines, title: document.title, jsonl: await (await fetch('trace.jsonl')).text() };
    });
    expect(branched.title).toContain('what if: decision');
    const lines = branched.lines;
    expect(JSON.parse(lines[0] as string).branch).toEqual({ from: 'T5', decision: K, option: other });
    expect(lines.slice(1, choiceLine)).toEqual(records.slice(1, choiceLine));
    expect(JSON.parse(lines[choiceLine] as string)).toMatchObject({ t: 'choice', i: K, pick: other });
    expect(lines.slice(choiceLine + 1)).not.toEqual(records.slice(choiceLine + 1));
    expect(branched.jsonl.trimEnd().split('\n')).toEqual(lines);
    // The branch's panel says where it comes from, and lists the choice it took as taken.
    await page.click('.whatif-button');
    await page.waitForSelector('.whatif-option.taken');
    expect(await page.textContent('.whatif-origin')).toContain(`branch of T5: option ${other} at decision ${K}`);
    expect(await page.$eval('.whatif-option.taken', (e) => Number(e.getAttribute('data-option')))).toBe(other);

    // The link, opened anew, shows the same branch at the same record.
    const again = await browser.newPage();
    await again.goto(link);
    await ready(again);
    expect(await again.evaluate(() => window.shootdownViewer?.pos)).toBe(choiceLine);
    expect(await again.evaluate(() => JSON.stringify(window.shootdownViewer?.model.record(0)))).toBe(lines[0]);
    await again.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it('a site written with --out shows the panel disabled: branching needs the server', async () => {
    const out = path.join(dir, 'site');
    const io = memoryIo();
    expect(await viewCommand(['T5', '--out', out], io.cli), io.err()).toBe(0);
    const local = await browser.newPage();
    await local.goto(`${pathToFileURL(path.join(out, 'index.html')).href}#step=${choiceLine + 3}`);
    await ready(local);
    await local.click('.whatif-button');
    await local.waitForSelector('.whatif-panel.disabled:not([hidden])');
    expect(await local.textContent('.whatif-body')).toContain('Branching needs the viewer’s server');
    expect(await local.$$('.whatif-take')).toHaveLength(0);
    await local.close();
  }, 60_000);
});
