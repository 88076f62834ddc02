import { it } from 'vitest';
import { loadBuiltin, BUILTIN_SCENARIOS } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';

it('eyeball', () => {
  for (const b of BUILTIN_SCENARIOS) for (const preset of ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline']) {
    const r = loadBuiltin(b.id);
    if (!r || !r.ok) throw new Error(JSON.stringify(r));
    const sc = { ...r.scenario, kernel: { ...r.scenario.kernel, preset } };
    const { outcome } = runScenario(sc, { seed: 1 });
    console.log(b.id, preset, outcome.end, (outcome.timeNs/1e6).toFixed(1)+'ms', 'steps', outcome.steps,
      'sd', JSON.stringify(outcome.shootdowns), 'faults', JSON.stringify(outcome.faults.map(f=>[f.cpu,f.insn,f.context,f.handling])),
      'initIgn', JSON.stringify(outcome.initIgnored), 'viol', JSON.stringify(outcome.violations.map(v=>v.property+': '+v.message)),
      'cpus', outcome.cpus.map(c=>`${c.id}:${c.vmx}/${c.cr4Vmxe?1:0}/${c.svme?'S':''}${c.gif?'':'g0'}/${c.activity}/${c.context}/v${c.loadedVmcs}`).join(' '),
      '\n   console:', outcome.console.map(c=>`${c.cpu}:${c.text}`).join(' | '));
  }
});
