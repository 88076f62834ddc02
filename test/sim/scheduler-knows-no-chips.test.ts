/**
 * The scheduler core (src/sim/scheduler.ts) steps slots through one interface (src/sim/slot.ts): it
 * imports no actor's driver or chart and names no kind of actor, so a new kind of actor is a new slot
 * family, not a new branch in the scheduler.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';

const source = fs.readFileSync(new URL('../../src/sim/scheduler.ts', import.meta.url), 'utf8');
const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

describe('the scheduler core knows slots, not chips', () => {
  it('imports no actor driver, chart or family', () => {
    const imports = [...code.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    for (const path of imports) expect(path).not.toMatch(/machines\/|cpu-slots|guest-slots|guests|cpu-drivers|chart-driver|chart-runner|simulation/);
  });

  it('compares nothing with the name of a kind of actor', () => {
    for (const kind of ['cpu', 'vcpu', 'vmm', 'vhost', 'vsock']) expect(code).not.toMatch(new RegExp(`=== '${kind}'|case '${kind}'`));
  });
});
