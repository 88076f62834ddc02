import { describe, expect, it } from 'vitest';
import { explore, run } from 'shootdown';

// R2: CPU0 runs an emergency restart (SysRq-b) while CPU1 panics with a crash kernel loaded.
describe('R2: emergency restart races a kdump panic', () => {
  it('v5.10: some interleaving hits VMCLEAR #UD in the NMI handler, a kernel BUG', () => {
    // Every kind of BUG, not only the first found: the search goes on to the end of the space.
    const found = explore('R2', { kernel: 'v5.10', properties: ['no-kernel-bug'], allViolations: true });
    expect(found.complete).toBe(true);
    expect(found.violations.map((v) => v.message)).toContain('CPU 0: VMCLEAR #UD in nmi context → kernel BUG');
  });

  it('mainline: no interleaving does', () => {
    const found = explore('R2', { properties: ['no-kernel-bug'] });
    expect(found.complete).toBe(true);
    expect(found.violations).toEqual([]);
  });

  it('T5 pins one interleaving down: the NMI lands between VMXOFF and CR4.VMXE=0, the #UD is eaten', () => {
    const { outcome } = run('T5');
    expect(outcome.faults).toContainEqual(expect.objectContaining({ cpu: 1, insn: 'VMCLEAR', fault: '#UD', handling: 'eaten' }));
    expect(outcome.violations).toEqual([]);
  });
});
