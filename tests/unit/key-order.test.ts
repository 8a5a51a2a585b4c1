import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { commonPrefix, compareKeys, keyBefore } from '../../lib/core/key-order.ts';

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const sign = (n: number) => Math.sign(n);
/** Characters where UTF-16 and UTF-8 order disagree, plus the usual suspects of S3 keys. */
const awkwardChar = fc.constantFrom(
  'a',
  'A',
  'z',
  '/',
  '-',
  '.',
  ' ',
  '+',
  '%',
  'é',
  '\ue000',
  '\uffff',
  '😀',
  '𝄞',
);
const awkwardKey = fc.string({ unit: awkwardChar, minLength: 0, maxLength: 8 });
const anyKey = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), awkwardKey);

describe('compareKeys', () => {
  it('orders keys exactly as their UTF-8 bytes, for any Unicode keys', () => {
    fc.assert(
      fc.property(anyKey, anyKey, (a, b) => {
        expect(sign(compareKeys(a, b))).toBe(sign(utf8Order(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  it('puts emoji after U+E000–U+FFFF, where JavaScript string comparison puts them before', () => {
    expect('😀' < '\ue000').toBe(true);
    expect(compareKeys('😀', '\ue000')).toBeGreaterThan(0);
    expect(compareKeys('photos/😀.jpg', 'photos/\uffff.jpg')).toBeGreaterThan(0);
  });

  it('sorts uppercase before lowercase and punctuation by code point, unlike localeCompare', () => {
    const keys = ['b', 'B', 'a', 'A', '_x', '-x', '.x', 'a/b', 'a-b'];
    expect([...keys].sort(compareKeys)).toEqual(['-x', '.x', 'A', 'B', '_x', 'a', 'a-b', 'a/b', 'b']);
  });
});

describe('keyBefore', () => {
  it('is below the key, and no shorter key lies between it and the key', () => {
    fc.assert(
      fc.property(
        awkwardKey.filter((k) => k.length > 0),
        awkwardKey,
        (key, other) => {
          const before = keyBefore(key);
          expect(compareKeys(before, key)).toBeLessThan(0);
          // Anything below the key is at or below the bound, unless it extends the bound itself.
          if (compareKeys(other, key) < 0 && !other.startsWith(before)) {
            expect(compareKeys(other, before)).toBeLessThanOrEqual(0);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('commonPrefix', () => {
  it('is a prefix of both keys and never splits a character outside the BMP', () => {
    expect(commonPrefix('photos/2024/a', 'photos/2025/b')).toBe('photos/202');
    expect(commonPrefix('x😀', 'x😁')).toBe('x');
    fc.assert(
      fc.property(awkwardKey, awkwardKey, (a, b) => {
        const p = commonPrefix(a, b);
        expect(a.startsWith(p) && b.startsWith(p)).toBe(true);
        expect(Buffer.from(p, 'utf8').toString('utf8')).toBe(p);
      }),
    );
  });
});
