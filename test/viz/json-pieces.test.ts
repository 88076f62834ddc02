/**
 * jsonPieces writes a document too large for one string: joined, its pieces are JSON.stringify's text
 * character for character, whatever the document; arrays (and sequences) go out element by element.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonSequence, jsonPieces } from '../../src/viz/json-pieces.js';

const value = fc.jsonValue({ maxDepth: 3 });
const doc = fc.dictionary(
  fc.string({ maxLength: 6 }),
  fc.oneof(value, fc.array(value, { maxLength: 5 }), fc.constant(undefined), fc.array(fc.oneof(value, fc.constant(undefined)), { maxLength: 3 })),
  { maxKeys: 6 },
);

describe('jsonPieces', () => {
  it.each([1, 2])('joined, is JSON.stringify(doc, null, %i) exactly', (indent) => {
    fc.assert(
      fc.property(doc, (d) => {
        expect([...jsonPieces(d, indent)].join('')).toBe(JSON.stringify(d, null, indent));
      }),
    );
  });

  it('a JsonSequence is written as the array of its items, each made as it is written', () => {
    const made: number[] = [];
    const seq = new JsonSequence(function* () {
      for (let i = 0; i < 3; i++) {
        made.push(i);
        yield { i, text: 'a\nb' };
      }
    });
    const pieces = jsonPieces({ a: 1, seq, empty: new JsonSequence(() => []) }, 2);
    const first = pieces.next().value as string;
    expect(first).toBe('{');
    expect(made).toEqual([]);
    const text = first + [...pieces].join('');
    expect(text).toBe(JSON.stringify({ a: 1, seq: [0, 1, 2].map((i) => ({ i, text: 'a\nb' })), empty: [] }, null, 2));
    expect(made).toEqual([0, 1, 2]);
  });

  it('no piece is longer than one element of an array', () => {
    const big = { head: { x: 1 }, rows: Array.from({ length: 1000 }, (_, i) => ({ i, s: 'x'.repeat(100) })) };
    const pieces = [...jsonPieces(big, 1)];
    expect(pieces.join('')).toBe(JSON.stringify(big, null, 1));
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(200);
  });
});
