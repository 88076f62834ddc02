/**
 * The Perfetto export opened by a real trace viewer, not only checked against the format's rules:
 * Perfetto's own UI is a web app this machine cannot reach, so the test uses speedscope (an offline
 * viewer of the same Chrome trace-event format, from npm) in Chromium. T5's export loads without an
 * import error or a B/E mismatch warning, every track with slices becomes a profile, and the context
 * slices are drawn.
 *
 * Skipped only where there is no /usr/bin/chromium and CI is not set: in CI these must run.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { perfettoJson, traceToPerfetto } from '../../src/viz/export-perfetto.js';
import { traceModel, type TraceModel } from '../../src/viz/trace-model.js';
import { builtin, chart, traceText } from './helpers.js';
import { launchBrowser, ROOT as root, runBrowser, SHOTS as shots } from './browser-env.js';

const speedscope = path.join(path.dirname(createRequire(import.meta.url).resolve('speedscope/package.json')), 'dist/release');

describe.skipIf(!runBrowser)('the Perfetto export opens in a trace viewer (speedscope, offline)', () => {
  const model = traceModel(chart, traceText(builtin('T5'))) as TraceModel;
  const exported = traceToPerfetto(model);
  const json = perfettoJson(exported);
  let browser: Browser;
  let server: http.Server;
  let base = '';

  beforeAll(async () => {
    fs.mkdirSync(shots, { recursive: true });
    // The viewer's files and the export, from one loopback origin (speedscope fetches the profile).
    server = http.createServer((req, res) => {
      const name = (req.url ?? '/').split(/[?#]/)[0]?.slice(1) || 'index.html';
      const body = name === 'T5.perfetto.json' ? json : /^[\w.-]+$/.test(name) && fs.existsSync(path.join(speedscope, name)) ? fs.readFileSync(path.join(speedscope, name)) : null;
      if (body === null) {
        res.writeHead(404).end();
        return;
      }
      const type = name.endsWith('.html') ? 'text/html' : name.endsWith('.js') ? 'text/javascript' : name.endsWith('.css') ? 'text/css' : name.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream';
      res.writeHead(200, { 'content-type': type }).end(body);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((ok) => server?.close(ok));
  });

  it('T5 loads with every CPU track, its slices drawn', async () => {
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    const errors: string[] = [];
    const consoleWarnings: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'warning') consoleWarnings.push(m.text());
    });
    await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(`${base}/T5.perfetto.json`)}&title=T5`);
    // speedscope makes one profile per track that has slices, and titles the view `T5 (1/N)`.
    const tracks = new Set(exported.traceEvents.filter((e) => e.ph === 'B').map((e) => `${e.pid}/${e.tid}`));
    expect(tracks.size).toBeGreaterThanOrEqual(4);
    await page.waitForFunction((n) => document.body.innerText.includes(`T5 (1/${n})`), tracks.size, { timeout: 60_000 });
    const text = await page.evaluate(() => document.body.innerText);
    expect(text).not.toMatch(/Something went wrong|Unrecognized format|failed to import/i);
    await page.waitForTimeout(500);
    const shot = await page.screenshot({ path: path.join(shots, 'perfetto-export-speedscope.png') });
    if (process.env.SHOOTDOWN_DOCS_SCREENSHOT) fs.copyFileSync(path.join(shots, 'perfetto-export-speedscope.png'), path.join(root, 'docs', 'perfetto-export-speedscope.png'));
    // The flame chart is WebGL: count the coloured pixels of the screenshot (slices are pastel, the rest white, grey or black).
    const coloured = await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d') as CanvasRenderingContext2D;
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) {
        const [r, g, b] = [px[i] as number, px[i + 1] as number, px[i + 2] as number];
        if (Math.max(r, g, b) - Math.min(r, g, b) > 20) n += 1;
      }
      return n;
    }, shot.toString('base64'));
    expect(coloured).toBeGreaterThan(10_000);
    // Every B is closed by an E of the same name and args on its track: no viewer has to guess.
    const warnings = consoleWarnings.filter((w) => /Tried to end/.test(w));
    expect(warnings).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
