/**
 * The viewer in a real browser (Debian's Chromium, driven by playwright-core): T5 stepped to the
 * NMI delivery with both CPUs' states lit and the arrow drawn; a trace whose console line is HTML
 * shown as text; the static site from file://; T14's vsock device picked and its state lit; ELK
 * loaded only when a state is opened; mermaid's own parser on every mermaid export; and a
 * 100,000-step trace that loads and steps without freezing.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { emergencyRestartRaw } from '../../src/bench/scenarios.js';
import { chartToMermaid } from '../../src/viz/export-mermaid.js';
import { exportScope } from '../../src/viz/chart-model.js';
import { traceToMermaidSequence } from '../../src/viz/export-trace.js';
import { buildSite, startViewer, writeSite, type RunningViewer } from '../../src/viz/site.js';
import { traceModel, type TraceModel } from '../../src/viz/trace-model.js';
import type { Viewer } from '../../src/viz/page/viewer.js';
import { builtin, chart, scenarioFrom, traceText } from './helpers.js';
import { ensurePageBundle, launchBrowser, ROOT as root, runBrowser, SHOTS as shots } from './browser-env.js';


declare global {
  interface Window {
    shootdownViewer?: Viewer;
    pwned?: number;
  }
}

function model(text: string): TraceModel {
  const m = traceModel(chart, text);
  if ('error' in m) throw new Error(m.error);
  return m;
}

async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => window.shootdownViewer !== undefined, null, { timeout: 120_000 });
}

const position = (page: Page) => page.evaluate(() => window.shootdownViewer?.pos ?? -1);

describe.skipIf(!runBrowser)('viewer in Chromium', () => {
  let browser: Browser;
  let viewer: RunningViewer | null = null;
  const errors: string[] = [];

  async function open(url: string, viewport = { width: 1600, height: 1000 }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(url);
    await ready(page);
    return page;
  }

  beforeAll(async () => {
    await ensurePageBundle();
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await viewer?.close();
    await browser?.close();
  });

  describe('T5: the NMI lands between VMXOFF and the clearing of CR4.VMXE', () => {
    const text = traceText(builtin('T5'));
    const m = model(text);
    const nmiAt = m.lines.findIndex((l) => l.includes('"t":"deliver"') && l.includes('"cpu":1,"mode":"nmi"'));
    let page: Page;

    beforeAll(async () => {
      viewer = await startViewer({ trace: text, source: 'T5: nmi-between-vmxoff-and-cr4-clear' });
      page = await open(viewer.url);
    }, 120_000);

    it('opens at the first record with the scripted CPUs (1 and 2) shown, ELK not loaded', async () => {
      expect(await position(page)).toBe(0);
      expect(await page.locator('.panel').evaluateAll((els) => els.map((e) => e.getAttribute('data-cpu')))).toEqual(['1', '2']);
      expect(await page.locator('script[src^="elk"]').count()).toBe(0);
    });

    it('stepping with → reaches the NMI delivery: CPU1 lit at nmi dispatch over task clearVmxe, CPU2 at waitAcks, the arrow drawn', async () => {
      let presses = 0;
      while ((await position(page)) < nmiAt && presses < 200) {
        await page.keyboard.press('ArrowRight');
        presses += 1;
      }
      expect(await position(page)).toBe(nmiAt);
      const cpu1 = page.locator('.panel[data-cpu="1"]');
      expect(await cpu1.locator('.path-line.on-top .path').textContent()).toBe('os.nmi.dispatch');
      expect(await cpu1.locator('.path-line .path').allTextContents()).toContain('os.task.emergencyRestart.selfVirt.cbVmxoff.clearVmxe');
      // Two views: the interrupted task and the executing NMI handler, each with its state lit.
      expect(await cpu1.locator('.view-caption').allTextContents()).toEqual(['task · interrupted', 'nmi · executing']);
      expect(await cpu1.locator('.chart-view').nth(0).locator('g.state.lit-idle .label').allTextContents()).toContain('clearVmxe');
      expect(await cpu1.locator('.chart-view').nth(1).locator('g.state.lit .label').allTextContents()).toEqual(['dispatch']);
      const cpu2 = page.locator('.panel[data-cpu="2"]');
      expect(await cpu2.locator('g.state.lit .label').allTextContents()).toEqual(['waitAcks']);
      // The NMI's arrow, from CPU2's send to CPU1, in the NMI colour and no longer in the future.
      const arrow = page.locator('g.arrow.nmi[data-msg="1"][data-cpu="1"]');
      expect(await arrow.count()).toBe(1);
      expect(await arrow.getAttribute('class')).not.toContain('future');
      expect(await page.locator('.log-row.current .c-text').textContent()).toContain('NMI (msg 1): delivered');
      await page.screenshot({ path: path.join(shots, 't5-nmi-delivery.png') });
      if (process.env.SHOOTDOWN_DOCS_SCREENSHOT) await page.screenshot({ path: path.join(root, 'docs', 'viewer.png') });
    });

    it('one step on runs the NMI handler; one step back shows the delivery again', async () => {
      await page.keyboard.press('ArrowRight');
      const after = await position(page);
      expect(after).toBeGreaterThan(nmiAt);
      expect(await page.locator('.panel[data-cpu="1"] .path-line.on-top .path').textContent()).toBe('os.nmi.emergencyHandler.checkCrashingCpu');
      await page.keyboard.press('ArrowLeft');
      expect(await position(page)).toBe(nmiAt);
      expect(await page.locator('.panel[data-cpu="1"] .path-line.on-top .path').textContent()).toBe('os.nmi.dispatch');
    });

    it('the URL keeps the position: a reload shows the same moment', async () => {
      await page.waitForFunction((line) => location.hash.includes(`step=${line}`), nmiAt + 1);
      expect(page.url()).toContain('cpus=1,2');
      await page.reload();
      await ready(page);
      expect(await position(page)).toBe(nmiAt);
      expect(await page.locator('.panel[data-cpu="1"] .path-line.on-top .path').textContent()).toBe('os.nmi.dispatch');
    });

    it('clicking an arrow of the sequence chart jumps to its delivery', async () => {
      const cpu3 = m.lines.findIndex((l) => l.includes('"t":"deliver"') && l.includes('"cpu":3,"mode":"nmi"'));
      await page.locator(`g.arrow.nmi[data-msg="1"][data-cpu="3"] line.hit`).click({ force: true });
      expect(await position(page)).toBe(cpu3);
    });

    it('scrubbing the timeline moves to where it is clicked; play runs and pause stops', async () => {
      const box = await page.locator('.timeline-canvas').boundingBox();
      if (!box) throw new Error('no timeline');
      await page.mouse.click(box.x + box.width - 2, box.y + box.height / 2);
      expect(await position(page)).toBeGreaterThan(m.count - 5);
      await page.keyboard.press('Home');
      expect(await position(page)).toBe(0);
      await page.locator('button.play').click();
      await page.waitForFunction(() => (window.shootdownViewer?.pos ?? 0) > 3);
      await page.locator('button.play').click();
      const stopped = await position(page);
      await page.waitForTimeout(600);
      expect(await position(page)).toBe(stopped);
    });

    it('opening a closed state loads ELK (in a worker) and lays the chart out again', async () => {
      await page.evaluate(() => window.shootdownViewer?.go(0));
      const closed = page.locator('.panel[data-cpu="2"] g.state.closed').first();
      const index = await closed.getAttribute('data-i');
      await closed.locator('rect.box').dispatchEvent('click');
      await page.waitForFunction((i) => document.querySelector(`.panel[data-cpu="2"] g.state.open[data-i="${i}"]`) !== null, index, { timeout: 60_000 });
      expect(await page.locator('script[src="elk-api.js"]').count()).toBe(1);
    });

    it('no page errors', () => {
      expect(errors).toEqual([]);
    });
  });

  it('untrusted text is text: a console line with a script tag, served and from file://', async () => {
    const evil = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>bold</b>';
    const lines = traceText(builtin('T5')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const consoleLine = lines.find((r) => r.t === 'console');
    if (!consoleLine) throw new Error('T5 has no console line');
    consoleLine.text = evil;
    const trace = lines.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const at = lines.indexOf(consoleLine);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-site-'));
    try {
      const site = await buildSite({ trace, source: '<i>evil.jsonl</i>' });
      writeSite(dir, site);
      const served = await startViewer({ trace, source: '<i>evil.jsonl</i>' });
      try {
        for (const url of [`${served.url}#step=${at + 1}&cpus=2`, `file://${path.join(dir, 'index.html')}#step=${at + 1}&cpus=2`]) {
          const page = await open(url);
          expect(await position(page)).toBe(at);
          expect(await page.evaluate(() => window.pwned)).toBeUndefined();
          expect(await page.locator('#app img, #app b, #app i').count()).toBe(0);
          expect(await page.locator('.log-row.current .c-text').textContent()).toBe(evil);
          expect(await page.locator('.msc-event.console title').allTextContents()).toContain(`line ${at + 1}: ${evil}`);
          expect(await page.locator('header.top .title').textContent()).toBe('<i>evil.jsonl</i>');
          await page.close();
        }
      } finally {
        await served.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(errors).toEqual([]);
  }, 120_000);

  it('T14: picking the vsock device shows its chart with its state lit, following the position', async () => {
    const text = traceText(builtin('T14'));
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const running = lines.findIndex((r) => r.t === 'gstep' && r.actor === 'vsock' && r.to === 'open.running');
    const served = await startViewer({ trace: text, source: 'T14' });
    try {
      const page = await open(`${served.url}#step=${running + 1}&cpus=1`);
      expect(await page.locator('select.guest-select option').allTextContents()).toEqual(['+ guest actor', 'vCPU 0', 'VMM 0', 'vsock 0']);
      await page.locator('select.guest-select').selectOption('vsock0');
      const panel = page.locator('.panel[data-actor="vsock0"]');
      expect(await panel.locator('.path-line.on-top .path').textContent()).toBe('open.running');
      expect(await panel.locator('g.state.lit .label').allTextContents()).toEqual(['running']);
      // The CPU panel is still there, and stepping back before the gstep lights the state before it.
      expect(await page.locator('.panel[data-cpu="1"]').count()).toBe(1);
      await page.evaluate((i) => window.shootdownViewer?.go(i), running - 1);
      expect(await panel.locator('g.state.lit .label').allTextContents()).toEqual(['configured']);
      await page.waitForFunction(() => location.hash.includes('actors=vsock0'));
      await page.screenshot({ path: path.join(shots, 't14-vsock.png') });
      await page.close();
    } finally {
      await served.close();
    }
    expect(errors).toEqual([]);
  }, 120_000);

  it("mermaid's own parser accepts every chart and trace export", async () => {
    const page = await browser.newPage();
    await page.addScriptTag({ path: path.join(root, 'node_modules/mermaid/dist/mermaid.min.js') });
    const scopes: [string, string, number | undefined][] = [
      ['whole chart', '', undefined],
      ['depth 2', '', 2],
      ['depth 3', '', 3],
      ['NMI emergency handler', 'os.nmi.emergencyHandler', undefined],
      ['crash kernel', 'crashKernel', undefined],
    ];
    const texts: [string, string][] = scopes.map(([name, rootPath, depth]) => {
      const scope = exportScope(chart, rootPath, depth);
      if ('error' in scope) throw new Error(scope.error);
      return [name, chartToMermaid(chart, scope).text];
    });
    for (const id of ['T1', 'T5', 'T6']) texts.push([`${id} sequence`, traceToMermaidSequence(model(traceText(builtin(id))))]);
    for (const [name, text] of texts) {
      const result = await page.evaluate(async (t) => {
        const mermaid = (window as unknown as { mermaid: { parse(text: string): Promise<unknown> } }).mermaid;
        try {
          return { ok: true, type: ((await mermaid.parse(t)) as { diagramType?: string }).diagramType };
        } catch (e) {
          return { ok: false, error: String((e as Error).message ?? e).slice(0, 400) };
        }
      }, text);
      expect(result, name).toMatchObject({ ok: true });
    }
    // And a broken one is refused, so the check above can fail.
    const broken = await page.evaluate(async () => {
      const mermaid = (window as unknown as { mermaid: { parse(text: string): Promise<unknown> } }).mermaid;
      return mermaid.parse('stateDiagram-v2\n  state "x" as a {\n').then(() => 'accepted', () => 'refused');
    });
    expect(broken).toBe('refused');
    await page.close();
  }, 120_000);

  it('a 100,000-step trace loads and steps without freezing (time per step logged)', async () => {
    const t0 = performance.now();
    // 13 steps a CPU on mainline (E6 has no second CR4.VMXE check before VMXOFF): 7800 CPUs are over 100,000.
    const text = traceText(scenarioFrom(emergencyRestartRaw(7800)));
    const steps = (text.match(/"t":"step"/g) ?? []).length;
    expect(steps).toBeGreaterThanOrEqual(100_000);
    const big = await startViewer({ trace: text, source: `emergency restart, 7800 CPUs` });
    const built = performance.now() - t0;
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    try {
      // The longest gap between frames while the page loads: how long it froze.
      await page.addInitScript(() => {
        const w = window as unknown as { maxGap: number };
        w.maxGap = 0;
        let last = performance.now();
        const tick = (now: number) => {
          w.maxGap = Math.max(w.maxGap, now - last);
          last = now;
          if (!(window as unknown as { shootdownViewer?: unknown }).shootdownViewer) requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      });
      const l0 = performance.now();
      await page.goto(big.url);
      await ready(page);
      const loadMs = performance.now() - l0;
      const maxGap = await page.evaluate(() => (window as unknown as { maxGap: number }).maxGap);
      // Time per step: the synchronous move plus the rendering it schedules for the next frame.
      const timing = await page.evaluate(async () => {
        const v = window.shootdownViewer as Viewer;
        const one = async (move: () => void): Promise<number> => {
          const t = performance.now();
          move();
          const sync = performance.now() - t;
          const render = await new Promise<number>((resolve) => requestAnimationFrame((frame) => resolve(performance.now() - Math.max(frame, t + sync))));
          return sync + render;
        };
        const stepTimes: number[] = [];
        v.go(Math.floor(v.model.count / 2));
        for (let k = 0; k < 200; k++) stepTimes.push(await one(() => v.step(1)));
        const jumpTimes: number[] = [];
        for (let k = 0; k < 50; k++) jumpTimes.push(await one(() => v.go(Math.floor((k * 7919 * 31) % v.model.count))));
        const stat = (a: number[]) => ({ mean: a.reduce((x, y) => x + y, 0) / a.length, max: Math.max(...a), p95: [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.95)] as number });
        return { step: stat(stepTimes), jump: stat(jumpTimes), records: v.model.count, cpus: v.model.cpuCount };
      });
      const f = (x: number) => x.toFixed(2);
      console.log(
        `100k-step trace: ${steps} steps, ${timing.records} records, ${timing.cpus} CPUs; simulate+build site ${f(built / 1000)} s; page load ${f(loadMs / 1000)} s, longest frame gap while loading ${f(maxGap)} ms; ` +
          `time per step: mean ${f(timing.step.mean)} ms, p95 ${f(timing.step.p95)} ms, max ${f(timing.step.max)} ms; random jump: mean ${f(timing.jump.mean)} ms, max ${f(timing.jump.max)} ms`,
      );
      await page.screenshot({ path: path.join(shots, 'big-trace.png') });
      expect(timing.records).toBeGreaterThan(200_000);
      expect(timing.step.mean).toBeLessThan(50);
      expect(timing.jump.mean).toBeLessThan(100);
      expect(maxGap).toBeLessThan(2_000);
      expect(await page.locator('.log-row').count()).toBeLessThan(200);
    } finally {
      await page.close();
      await big.close();
    }
    expect(errors).toEqual([]);
  }, 300_000);
});
