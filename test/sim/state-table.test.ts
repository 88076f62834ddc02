import fc from 'fast-check';
import { createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { activePaths, inState, knownState, leafPath, StatePattern, stateTable, type MatchMeter } from '../../src/sim/state-table.js';

/** A small chart shaped like the physical CPU's: a parallel `os` with regions, and states outside it. */
const tiny = createMachine({
  id: 'tiny',
  initial: 'os',
  states: {
    os: {
      type: 'parallel',
      states: {
        task: {
          initial: 'idle',
          states: {
            idle: {},
            emergencyRestart: {
              initial: 'selfVirt',
              states: {
                selfVirt: {
                  initial: 'vmx',
                  states: {
                    vmx: { initial: 'clearVmxe', states: { clearVmxe: {}, vmxoff: {} } },
                    svm: { initial: 'clearEfer', states: { clearEfer: {} } },
                  },
                },
                waitAcks: { tags: ['wait'], meta: { watch: ['waitingForAcks'] } },
              },
            },
          },
        },
        nmi: {
          initial: 'none',
          states: { none: { tags: ['blocked'] }, crashNmiCallback: { initial: 'halt', states: { halt: { tags: ['wait', 'stopped'] } } } },
        },
      },
    },
    waitForSipi: { tags: ['blocked'] },
    reset: { type: 'final' },
  },
});

const table = stateTable(tiny);

describe('StatePattern: a suffix of a state path on dot boundaries', () => {
  const cases: [pattern: string, path: string, matches: boolean][] = [
    ['clearVmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', true],
    ['vmx.clearVmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', true],
    ['os.task.emergencyRestart.selfVirt.vmx.clearVmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', true],
    // A segment must match whole: no substring matches inside a name.
    ['Vmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', false],
    ['ask.idle', 'os.task.idle', false],
    // Suffix, not infix: the pattern must reach the end of the path.
    ['selfVirt', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', false],
    ['task', 'os.task.idle', false],
    // Longer than the path.
    ['x.os.task.idle', 'os.task.idle', false],
    // `*` is exactly one segment.
    ['emergencyRestart.selfVirt.*.clearVmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', true],
    ['emergencyRestart.*.clearVmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', false],
    ['selfVirt.*', 'os.task.emergencyRestart.selfVirt.vmx', true],
    ['selfVirt.*', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', false],
    ['*', 'os.task.idle', true],
    ['*.*.*.*', 'os.task.idle', false],
    // `**` is any number of segments, zero included.
    ['emergencyRestart.**.clearVmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', true],
    ['emergencyRestart.**.selfVirt', 'os.task.emergencyRestart.selfVirt', true],
    ['task.**.clearVmxe', 'os.nmi.crashNmiCallback.halt', false],
    ['**', 'os.task.idle', true],
    ['**.idle', 'idle', true],
    ['os.**', 'os.task.idle', true],
    ['nmi.**', 'os.task.idle', false],
    // `a|b` matches where either alternative does.
    ['clearEfer|clearVmxe', 'os.task.emergencyRestart.selfVirt.vmx.clearVmxe', true],
    ['clearEfer|clearVmxe', 'os.task.emergencyRestart.selfVirt.svm.clearEfer', true],
    ['clearEfer|clearVmxe', 'os.task.idle', false],
    [' idle | halt ', 'os.nmi.crashNmiCallback.halt', true],
  ];

  it.each(cases)('%j against %j → %j', (pattern, path, matches) => {
    expect(new StatePattern(pattern).matches(path)).toBe(matches);
  });

  it('is valid only when every alternative has no empty segment', () => {
    expect(new StatePattern('selfVirt.*.clearVmxe|**.halt').valid).toBe(true);
    for (const bad of ['', 'a..b', '.a', 'a.', 'a|', '|a', 'a||b']) expect(new StatePattern(bad).valid, bad).toBe(false);
  });

  it('keeps its source text', () => {
    expect(new StatePattern('a|b.*').source).toBe('a|b.*');
  });
});

describe('inState: some active leaf or one of its ancestors matches', () => {
  const paths = ['os.task.emergencyRestart.selfVirt.vmx.clearVmxe', 'os.nmi.none'];

  it('matches a leaf', () => {
    expect(inState(paths, new StatePattern('vmx.clearVmxe'))).toBe(true);
  });

  it('matches an ancestor of a leaf (being in selfVirt.vmx.clearVmxe is being in selfVirt)', () => {
    expect(inState(paths, new StatePattern('selfVirt'))).toBe(true);
    expect(inState(paths, new StatePattern('emergencyRestart.selfVirt.*'))).toBe(true);
    expect(inState(paths, new StatePattern('task'))).toBe(true);
    expect(inState(paths, new StatePattern('os'))).toBe(true);
  });

  it('matches a state of any region, not just the first', () => {
    expect(inState(paths, new StatePattern('nmi.none'))).toBe(true);
  });

  it('does not match a sibling, a descendant or a state of another region', () => {
    expect(inState(paths, new StatePattern('vmxoff'))).toBe(false);
    expect(inState(paths, new StatePattern('svm'))).toBe(false);
    expect(inState(['os.task.emergencyRestart'], new StatePattern('selfVirt'))).toBe(false);
    expect(inState(paths, new StatePattern('nmi.crashNmiCallback'))).toBe(false);
    expect(inState(paths, new StatePattern('task.none'))).toBe(false);
  });

  it('is false with no active paths', () => {
    expect(inState([], new StatePattern('**'))).toBe(false);
  });
});

describe('leafPath and activePaths', () => {
  const value = {
    os: {
      task: { emergencyRestart: { selfVirt: { vmx: 'clearVmxe' } } },
      nmi: 'none',
    },
  };

  it('leafPath follows the named region of `os` down to its leaf', () => {
    expect(leafPath(value, 'task')).toBe('os.task.emergencyRestart.selfVirt.vmx.clearVmxe');
    expect(leafPath(value, 'nmi')).toBe('os.nmi.none');
  });

  it('leafPath of a state outside `os` is that state, whatever the region', () => {
    expect(leafPath('waitForSipi', 'task')).toBe('waitForSipi');
    expect(leafPath({ reset: 'done' }, 'nmi')).toBe('reset.done');
  });

  it('leafPath of a real snapshot value names a state of the chart (XState fills in initial children)', () => {
    const snapshot = tiny.resolveState({ value: { os: { task: 'emergencyRestart' } } as never });
    expect(leafPath(snapshot.value as never, 'task')).toBe('os.task.emergencyRestart.selfVirt.vmx.clearVmxe');
    expect(leafPath(snapshot.value as never, 'nmi')).toBe('os.nmi.none');
    expect(table.has(leafPath(snapshot.value as never, 'task'))).toBe(true);
  });

  it('activePaths lists one path per active leaf, across all regions', () => {
    expect(activePaths(value)).toEqual(['os.task.emergencyRestart.selfVirt.vmx.clearVmxe', 'os.nmi.none']);
    expect(activePaths('reset')).toEqual(['reset']);
    expect(activePaths({ a: { b: 'c', d: { e: 'f' } } })).toEqual(['a.b.c', 'a.d.e.f']);
  });

  it('every path activePaths reports is a state of the chart', () => {
    const snapshot = tiny.resolveState({ value: { os: { task: 'emergencyRestart', nmi: 'crashNmiCallback' } } as never });
    expect(activePaths(snapshot.value as never)).toHaveLength(2);
    for (const p of activePaths(snapshot.value as never)) expect(table.has(p), p).toBe(true);
  });
});

describe('stateTable and knownState', () => {
  it('reads blocked, wait and stopped tags, final states and the watched variables from the chart', () => {
    expect(table.get('waitForSipi')).toMatchObject({ blocked: true, wait: false, final: false });
    expect(table.get('os.nmi.none')).toMatchObject({ blocked: true });
    expect(table.get('os.task.emergencyRestart.waitAcks')).toEqual({
      path: 'os.task.emergencyRestart.waitAcks',
      blocked: false,
      wait: true,
      stopped: false,
      final: false,
      watch: ['waitingForAcks'],
    });
    expect(table.get('os.nmi.crashNmiCallback.halt')).toMatchObject({ wait: true, stopped: true });
    expect(table.get('reset')).toMatchObject({ final: true, watch: [] });
    expect(table.get('')).toBeDefined();
    expect(table.size).toBe(18);
  });

  it('a name is known when it matches some state of the chart', () => {
    for (const name of ['clearVmxe', 'selfVirt', 'emergencyRestart.selfVirt.*.clearVmxe', 'nmi.**.halt|waitForSipi', 'os', '**'])
      expect(knownState(table, name), name).toBe(true);
  });

  it('a name is unknown when it matches no state', () => {
    for (const name of ['clearVmx', 'selfVirt.clearVmxe', 'nmi.**.clearVmxe', 'tiny.os']) expect(knownState(table, name), name).toBe(false);
  });

  it('every alternative must name a state, so a typo in one of them is still reported', () => {
    expect(knownState(table, 'clearVmxe|claerEfer')).toBe(false);
    expect(knownState(table, 'clearVmxe|clearEfer')).toBe(true);
  });

  it('a malformed name (empty segment or alternative) is unknown even if the rest would match', () => {
    for (const name of ['', 'clearVmxe|', 'vmx..clearVmxe', '.clearVmxe']) expect(knownState(table, name), name).toBe(false);
  });

  it('the root (empty path) is not a state a name can match', () => {
    const rootOnly = new Map([['', { path: '', blocked: false, wait: false, stopped: false, final: false, watch: [] as string[] }]]);
    expect(knownState(rootOnly, '**')).toBe(false);
    expect(knownState(rootOnly, '*')).toBe(false);
  });
});

/** The definition, tried split by split (exponential in the number of `**`s): the oracle for small sizes. */
function reference(pattern: string, path: string): boolean {
  const segs = path.split('.');
  const glob = (parts: readonly string[], i: number, j: number): boolean => {
    if (j === parts.length) return i === segs.length;
    if (parts[j] === '**') {
      for (let k = i; k <= segs.length; k++) if (glob(parts, k, j + 1)) return true;
      return false;
    }
    return i < segs.length && (parts[j] === '*' || parts[j] === segs[i]) && glob(parts, i + 1, j + 1);
  };
  return pattern.split('|').some((alt) => {
    const parts = alt.trim().split('.');
    for (let i = 0; i < segs.length; i++) if (glob(parts, i, 0)) return true;
    return false;
  });
}

describe('StatePattern: matching costs O(segments × pattern parts), not a try of every split', () => {
  it('18 `**`s before a name that is not there: a bounded number of steps', () => {
    // The 152-byte pattern of the report (`**.**.…(18×).x`) against a 24-segment path.
    const pattern = new StatePattern(`${Array.from({ length: 18 }, () => '**').join('.')}.x`);
    const path = Array.from({ length: 24 }, (_, i) => `s${i}`).join('.');
    const meter: MatchMeter = { steps: 0 };
    expect(pattern.matches(path, meter)).toBe(false);
    // (segments) × (parts + 1): 24 × 20; trying every split would be C(24+18, 18) ≈ 10^11.
    expect(meter.steps).toBeGreaterThan(0);
    expect(meter.steps).toBeLessThanOrEqual(24 * 20);
    const ancestors: MatchMeter = { steps: 0 };
    expect(pattern.matchesPrefix(path, ancestors)).toBe(false);
    expect(ancestors.steps).toBeLessThanOrEqual(24 * 20);
  });

  it('the steps grow linearly with the path, not with the number of `**`s raised to it', () => {
    const pattern = new StatePattern('**.a.**.b.**.c.**.d.**.zz');
    const steps = (n: number): number => {
      const meter: MatchMeter = { steps: 0 };
      pattern.matches(Array.from({ length: n }, (_, i) => 'abcd'[i % 4]).join('.'), meter);
      return meter.steps;
    };
    expect(steps(64)).toBe(2 * steps(32));
  });

  it('agrees with the definition on random patterns and paths', () => {
    const seg = fc.constantFrom('a', 'b', 'c');
    const part = fc.constantFrom('a', 'b', 'c', '*', '**');
    const alt = fc.array(part, { minLength: 1, maxLength: 5 }).map((p) => p.join('.'));
    const pattern = fc.array(alt, { minLength: 1, maxLength: 3 }).map((a) => a.join('|'));
    const path = fc.array(seg, { minLength: 1, maxLength: 7 }).map((s) => s.join('.'));
    fc.assert(
      fc.property(pattern, path, (p, q) => {
        const compiled = new StatePattern(p);
        expect(compiled.matches(q)).toBe(reference(p, q));
        // An ancestor or the state itself: what inState asks of each active leaf.
        const segs = q.split('.');
        const anyAncestor = segs.some((_, k) => reference(p, segs.slice(0, k + 1).join('.')));
        expect(compiled.matchesPrefix(q)).toBe(anyAncestor);
        expect(inState([q], compiled)).toBe(anyAncestor);
      }),
      { numRuns: 2000 },
    );
  });
});
