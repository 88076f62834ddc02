/**
 * What `shootdown run` loads at start (the built command, `npm run build` first): a cold run waits for every
 * module it imports, so the viewer, the exporters and the explorer load only for their own commands, and RxJS
 * comes from its own modules rather than its index (which loads every operator).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '../..');
const cli = path.join(root, 'dist/src/cli/main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-cold-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `main(argv)` of the built CLI in a fresh node and lists the ES modules of dist/ and the CommonJS files it loaded. */
function loaded(argv: string[]): { esm: string[]; cjs: string[]; stdout: string } {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const hooks = path.join(dir, 'hooks.mjs');
  fs.writeFileSync(
    hooks,
    `export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); process.stderr.write('ESM ' + r.url + '\\n'); return r; }\n`,
  );
  const script = `
    import { register, createRequire } from 'node:module';
    register(${JSON.stringify(pathToFileURL(hooks).href)});
    const { main } = await import(${JSON.stringify(pathToFileURL(cli).href)});
    let out = '';
    const code = await main(${JSON.stringify(argv)}, { stdout: (t) => { out += t; }, stderr: (t) => process.stderr.write(t), readFile: () => '', fs: {} });
    for (const f of Object.keys(createRequire(import.meta.url).cache)) process.stderr.write('CJS ' + f + '\\n');
    process.stdout.write(JSON.stringify({ code, out }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`node exited with ${r.status}: ${r.stderr}`);
  const lines = r.stderr.split('\n');
  const { code, out } = JSON.parse(r.stdout) as { code: number; out: string };
  expect(code).toBe(0);
  return {
    esm: lines.filter((l) => l.startsWith('ESM ')).map((l) => l.slice(4).replace(pathToFileURL(root).href + '/', '')),
    cjs: lines.filter((l) => l.startsWith('CJS ')).map((l) => path.relative(root, l.slice(4))),
    stdout: out,
  };
}

describe('a cold `shootdown run` loads what it runs', () => {
  it('not the viewer or the exporters, and RxJS without its operators', () => {
    const r = loaded(['run', 'T5', '--json']);
    // The run happened, through the simulator (the listing works).
    expect(JSON.parse(r.stdout).outcome.end).toBeTypeOf('string');
    expect(r.esm).toContain('dist/src/sim/simulation.js');
    const viewer = r.esm.filter((u) => /dist\/src\/(cli\/viz-commands|viz\/(site|branch-server|export-[a-z-]+|trace-model))\.js$/.test(u));
    expect(viewer).toEqual([]);
    const rxjs = r.cjs.filter((f) => f.includes('node_modules/rxjs/'));
    expect(rxjs.length).toBeGreaterThan(0);
    expect(rxjs.length).toBeLessThan(60);
  });

  it('the viewer still loads for its own commands', () => {
    const r = loaded(['export', 'physical-cpu', '--format', 'json']);
    expect(r.esm).toContain('dist/src/cli/viz-commands.js');
    expect(JSON.parse(r.stdout)).toBeTypeOf('object');
  });
});
