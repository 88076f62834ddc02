/**
 * The bench's comparison logic: sides interleaved pair by pair, each side's median and range, the
 * per-pair ratios; pan's report read for the SPIN rows; the scenario file the cold rows run.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { interleave, interleaveAsync, pairedSummary, ratioText, spread } from '../../src/bench/paired.js';
import { parsePan } from '../../src/bench/spin.js';
import { emergencyRestartRaw } from '../../src/bench/scenarios.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';

describe('interleaved pairs', () => {
  it('runs A and B alternately, sample i of each side from pair i', () => {
    const calls: string[] = [];
    const r = interleave(
      3,
      (i) => (calls.push(`a${i}`), i * 10),
      (i) => (calls.push(`b${i}`), i * 100),
    );
    expect(calls).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
    expect(r).toEqual({ a: [0, 10, 20], b: [0, 100, 200] });
  });

  it('waits for each side before starting the next (async sides)', async () => {
    const calls: string[] = [];
    let running = 0;
    const side = (name: string) => async (i: number) => {
      running += 1;
      expect(running).toBe(1);
      calls.push(`${name}${i}`);
      await new Promise((resolve) => setTimeout(resolve, 1));
      running -= 1;
      return i;
    };
    const r = await interleaveAsync(2, side('a'), side('b'));
    expect(calls).toEqual(['a0', 'b0', 'a1', 'b1']);
    expect(r).toEqual({ a: [0, 1], b: [0, 1] });
  });

  it('refuses no pairs', () => {
    expect(() => interleave(0, () => 1, () => 2)).toThrow(/positive integer/);
  });

  it('gives each side its median and range and the range of the per-pair ratio', () => {
    // The ratio's spread is over pairs: not the ratio of the medians (4 / 2 = 2 here, while the pairs say 2, 2, 3, 1).
    const s = pairedSummary([2, 4, 9, 5], [1, 2, 3, 5]);
    expect(s.pairs).toBe(4);
    expect(s.a).toEqual({ median: 4.5, min: 2, max: 9 });
    expect(s.b).toEqual({ median: 2.5, min: 1, max: 5 });
    expect(s.ratios).toEqual([2, 2, 3, 1]);
    expect(s.ratio).toEqual({ median: 2, min: 1, max: 3 });
    expect(ratioText(s.ratio)).toBe('2.00× (1.00–3.00×)');
  });

  it('an odd count has its middle sample as the median', () => {
    expect(spread([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5 });
  });

  it('refuses sides of different lengths', () => {
    expect(() => pairedSummary([1, 2], [1])).toThrow(/differ in count/);
  });
});

describe("pan's report", () => {
  const report = `State-vector 156 byte, depth reached 70, errors: 0
    22584 states, stored
    31537 states, matched
    54121 transitions (= stored+matched)
      716 atomic steps
pan: elapsed time 0.03 seconds
pan: rate    752800 states/second
`;
  it('reads states stored, transitions, the elapsed time and the error count', () => {
    expect(parsePan(report)).toEqual({ states: 22584, transitions: 54121, elapsedS: 0.03, errors: 0 });
  });
  it('says which figure is missing', () => {
    expect(() => parsePan(report.replace('transitions (=', 'moves (='))).toThrow(/transitions/);
  });
});

describe('the cold rows run the bench scenario from a file', () => {
  it('src/bench/data/emergency-restart-8192.json is the 8192-CPU emergency restart of section 1, and valid', () => {
    const file = JSON.parse(fs.readFileSync('src/bench/data/emergency-restart-8192.json', 'utf8')) as Record<string, unknown>;
    expect(file).toEqual(emergencyRestartRaw(8192));
    const v = validateScenario(file, 'src/bench/data/emergency-restart-8192.json', validationContext);
    expect(v.ok).toBe(true);
  });
});
