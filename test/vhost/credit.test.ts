import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { advertise, credit, DEFAULT_BUF_ALLOC, newCredit, read, receive, send } from '../../src/vhost/credit.js';
import { creditNeverNegative } from '../../src/spec/vsock-datapath.js';

describe('stream credit (docs/model.md §5.5)', () => {
  it('a sender stops at the advertised buffer and resumes after a CREDIT_UPDATE', () => {
    let c = newCredit(128 * 1024, 128 * 1024);
    const first = send(c, 200 * 1024);
    expect(first.sent).toBe(128 * 1024);
    c = receive(first.c, first.sent);
    expect(credit(c)).toBe(0);
    expect(send(c, 1).sent).toBe(0);
    const r = read(c, 80 * 1024);
    expect(r.creditUpdate).toBe(true); // advertised free space (0) is under 64 KiB
    c = advertise(r.c);
    expect(credit(c)).toBe(80 * 1024);
    expect(creditNeverNegative(c)).toEqual([]);
  });

  it('no CREDIT_UPDATE while the advertised free space stays at or above 64 KiB', () => {
    let c = newCredit(DEFAULT_BUF_ALLOC, DEFAULT_BUF_ALLOC);
    const s = send(c, 10 * 1024);
    c = receive(s.c, s.sent);
    expect(read(c, 10 * 1024).creditUpdate).toBe(false);
  });

  it('the observer catches a sender that ignores the credit', () => {
    const c = { ...newCredit(1024, 1024), txCnt: 2048 };
    expect(creditNeverNegative(c).map((v) => v.property)).toEqual(['vsock-credit-never-negative']);
  });

  it('random sends, deliveries, reads and updates never make credit negative (fast-check)', () => {
    const step = fc.oneof(
      fc.record({ k: fc.constant('send' as const), n: fc.integer({ min: 0, max: 300 * 1024 }) }),
      fc.record({ k: fc.constant('read' as const), n: fc.integer({ min: 0, max: 300 * 1024 }) }),
      fc.constant({ k: 'deliver' as const, n: 0 }),
      fc.constant({ k: 'update' as const, n: 0 }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let c = newCredit(DEFAULT_BUF_ALLOC, DEFAULT_BUF_ALLOC);
        let inTransit = 0;
        for (const s of steps) {
          if (s.k === 'send') {
            const r = send(c, s.n);
            c = r.c;
            inTransit += r.sent;
          } else if (s.k === 'deliver') {
            c = receive(c, inTransit);
            inTransit = 0;
          } else if (s.k === 'read') {
            c = read(c, s.n).c;
          } else {
            c = advertise(c);
          }
          expect(creditNeverNegative(c)).toEqual([]);
          expect(credit(c)).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});
