/**
 * What `shootdown run` loads at start (the built command, `npm run build` first): a cold run waits for every
 * file it loads, so the command a user runs — package.json's `bin`, the bundle src/cli/vite.config.ts writes — is
 * run here as a process, and the modules inside the files it loaded are read from the bundle's `// dist/src/…`
 * markers: the viewer, the exporters, the inspector's server and the explorer load only for their own commands.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
const bin = path.join(root, pkg.bin.shootdown as string);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-cold-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Modules only the viewer and the exporters use (`view`, `export`, `export-trace`). */
const VIEWER_ONLY = /^dist\/src\/(cli\/viz-commands|viz\/(site|branch-server|export-[a-z-]+|trace-model|local-server))\.js$/;
/** Modules only `explore` uses, and the inspector's bridge (`run --inspect`). */
const EXPLORER_ONLY = /^dist\/src\/(cli\/(explore-command|merge-command|shard-command|inspect)|explore\/(explorer|harness|cached|parallel|point-of-no-return))\.js$/;

interface Loaded {
  status: number | null;
  stdout: string;
  /** Files node loaded as ES modules (relative to the package), node: builtins left out. */
  files: string[];
  /** The modules of dist/ and node_modules/ that those files hold or are. */
  modules: string[];
}

/** Runs the bin entry as a user does, with a module hook that lists every ES module node loads. */
function loaded(argv: string[]): Loaded {
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);
  // The hooks run on a thread of their own: each URL is written to the log before the module can load.
  const log = path.join(dir, `loaded-${argv[0]}.txt`);
  fs.writeFileSync(log, '');
  const hooks = path.join(dir, 'hooks.mjs');
  fs.writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';\nexport async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`,
  );
  const register = path.join(dir, 'register.mjs');
  fs.writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, bin, ...argv], { encoding: 'utf8', cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  const urls = [...new Set(fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('file:')))];
  const files = urls.map((u) => path.relative(root, new URL(u).pathname));
  const modules = new Set<string>();
  for (const f of files) {
    if (!f.startsWith('dist/bin/')) {
      modules.add(f);
      continue;
    }
    // The bundler marks where each module's code begins: `// dist/src/sim/simulation.js`.
    for (const m of fs.readFileSync(path.join(root, f), 'utf8').matchAll(/^\/\/ ((?:dist|node_modules)\/\S+\.[cm]?js)$/gm)) modules.add(m[1] as string);
  }
  return { status: r.status, stdout: r.stdout, files, modules: [...modules] };
}

describe('a cold `shootdown run` loads what it runs', () => {
  it('package.json runs the bundle: bin, npm start and npm run shootdown', () => {
    expect(pkg.bin.shootdown).toBe('dist/bin/shootdown.js');
    expect(pkg.scripts.start).toBe('node dist/bin/shootdown.js run');
    expect(pkg.scripts.shootdown).toBe('node dist/bin/shootdown.js');
    expect(fs.readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('a few bundle files, holding the simulator but not the viewer, the exporters, the inspector or the explorer', () => {
    const r = loaded(['run', 'T5', '--json']);
    expect(r.status).toBe(0);
    // The run happened, through the simulator (the listing works).
    expect(JSON.parse(r.stdout).outcome.end).toBeTypeOf('string');
    expect(r.modules).toContain('dist/src/sim/simulation.js');
    expect(r.modules).toContain('dist/src/cli/run-command.js');
    // Nothing outside the bundle: no module of dist/src or node_modules loaded one by one.
    expect(r.files.filter((f) => !f.startsWith('dist/bin/'))).toEqual([]);
    expect(r.files.length).toBeLessThanOrEqual(3);
    expect(r.modules.filter((m) => VIEWER_ONLY.test(m))).toEqual([]);
    expect(r.modules.filter((m) => EXPLORER_ONLY.test(m))).toEqual([]);
    // XState and RxJS are in the bundle, RxJS without the operators the simulator does not use.
    expect(r.modules.some((m) => m.startsWith('node_modules/xstate/'))).toBe(true);
    const rxjs = r.modules.filter((m) => m.startsWith('node_modules/rxjs/'));
    expect(rxjs.length).toBeGreaterThan(0);
    expect(rxjs.length).toBeLessThan(60);
  });

  it('the viewer and the exporters still load for their own commands', () => {
    const r = loaded(['export', 'physical-cpu', '--format', 'json']);
    expect(r.status).toBe(0);
    expect(r.modules).toContain('dist/src/cli/viz-commands.js');
    expect(JSON.parse(r.stdout)).toBeTypeOf('object');
  });

  it('the explorer still loads for explore', () => {
    const r = loaded(['explore', 'R1', '--cpus', '2', '--max-states', '50', '--no-pnr', '--json', '--out', path.join(dir, 'out')]);
    expect([0, 1, 3]).toContain(r.status);
    expect(r.modules).toContain('dist/src/explore/explorer.js');
    expect(JSON.parse(r.stdout).statesVisited).toBeGreaterThan(0);
  });

  it("a run never starts ICU's locale formats (their first use costs tens of milliseconds of every start)", () => {
    // Every way into ICU's number and date formats is wrapped to note its use; then `run` goes as a user runs it.
    const log = path.join(dir, 'intl.txt');
    fs.writeFileSync(log, '');
    const spy = path.join(dir, 'intl-spy.mjs');
    fs.writeFileSync(
      spy,
      `import { appendFileSync } from 'node:fs';
const note = (what) => appendFileSync(${JSON.stringify(log)}, what + '\\n');
for (const [owner, name, key] of [[Number.prototype, 'Number', 'toLocaleString'], [Date.prototype, 'Date', 'toLocaleString'], [Date.prototype, 'Date', 'toLocaleDateString'], [Date.prototype, 'Date', 'toLocaleTimeString'], [String.prototype, 'String', 'localeCompare']]) {
  const f = owner[key];
  owner[key] = function (...a) { note(name + '.' + key); return f.apply(this, a); };
}
for (const key of ['NumberFormat', 'DateTimeFormat', 'Collator', 'PluralRules']) {
  const C = Intl[key];
  Intl[key] = function (...a) { note('Intl.' + key); return new C(...a); };
}
`,
    );
    for (const argv of [['run', 'T5'], ['run', 'T5', '--json']]) {
      const r = spawnSync(process.execPath, ['--import', pathToFileURL(spy).href, bin, ...argv], { encoding: 'utf8', cwd: dir, maxBuffer: 64 * 1024 * 1024 });
      expect(r.status).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    }
    expect(fs.readFileSync(log, 'utf8')).toBe('');
  });
});
