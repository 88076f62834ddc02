/** The scenario file README shows is the one in docs/examples, and it runs as README's command runs it. */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../cli/memory-io.js';

const FILE = 'docs/examples/nmi-between-vmxoff-and-cr4-clear.json';

describe('README scenario file', () => {
  it('README shows docs/examples/nmi-between-vmxoff-and-cr4-clear.json as it is', () => {
    const readme = fs.readFileSync('README.md', 'utf8');
    const block = /### Scenario files\n[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(fs.readFileSync(FILE, 'utf8'));
  });

  it('runs as README says: shootdown run <it> --seed 7 --json', async () => {
    const readme = fs.readFileSync('README.md', 'utf8');
    expect(readme).toContain(`npx shootdown run ${FILE} --seed 7 --json`);
    const t = memoryIo();
    expect(await main(['run', FILE, '--seed', '7', '--json'], t.cli)).toBe(0);
    const out = JSON.parse(t.out()) as { scenario: { name: string }; kernel: { preset: string } };
    expect(out.scenario.name).toBe('nmi-between-vmxoff-and-cr4-clear');
    expect(out.kernel.preset).toBe('v5.11');
  });
});
