/** One name per message: the exports, the viewer and the CLI's send line call a vector the same. */
import { describe, expect, it } from 'vitest';
import { messageLabel } from '../../src/hw/vectors.js';
import { CALL_FUNCTION_VECTOR, REBOOT_VECTOR, SCRIPT_DEVICE_VECTOR } from '../../src/hw/apic.js';
import { formatTimelineRecord } from '../../src/cli/format.js';

describe('messageLabel', () => {
  it.each([
    ['fixed', REBOOT_VECTOR, 'REBOOT_VECTOR (0xf8)'],
    ['fixed', CALL_FUNCTION_VECTOR, 'CALL_FUNCTION_VECTOR (0xfc)'],
    ['fixed', SCRIPT_DEVICE_VECTOR, 'device IRQ (0x41)'],
    ['fixed', 0x31, 'IPI (0x31)'],
    ['nmi', null, 'NMI'],
    ['init', null, 'INIT'],
    ['sipi', 0x9a, 'SIPI'],
  ] as const)('%s %s → %s', (mode, vector, name) => {
    expect(messageLabel(mode, vector)).toBe(name);
  });

  it("is the name on `shootdown run`'s send line", () => {
    for (const vector of [REBOOT_VECTOR, CALL_FUNCTION_VECTOR, SCRIPT_DEVICE_VECTOR, 0x31]) {
      const line = formatTimelineRecord({ t: 'send', ns: 0, msg: 1, from: 0, mode: 'fixed', vector, dest: 'all-but-self', targets: 3, source: 'kernel' }, false);
      expect(line).toContain(`: ${messageLabel('fixed', vector)}`);
    }
  });
});
