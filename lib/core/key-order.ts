/**
 * S3 lists keys in UTF-8 binary order. JavaScript compares strings by UTF-16 code units, which agrees
 * with UTF-8 order everywhere except one place: a character outside the BMP (emoji, U+10000 and up, two
 * surrogate code units 0xD800–0xDFFF) sorts *before* U+E000–U+FFFF in UTF-16 but *after* them in UTF-8.
 * Everything that orders keys in s3-dr goes through {@link compareKeys}.
 */

/** Moves surrogates above U+E000–U+FFFF, so code-unit order becomes code-point (= UTF-8 byte) order. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/**
 * Compares two keys in S3's order (UTF-8 bytes): negative if `a` sorts first, 0 if equal, positive if
 * `b` sorts first. Allocation-free; equivalent to `Buffer.compare(Buffer.from(a), Buffer.from(b))` for
 * well-formed strings.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Below 0xD800 code units and code points agree; only a surrogate against U+E000–U+FFFF disagrees.
    if (x < 0xd800 || y < 0xd800) return x - y;
    return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** The longest common leading substring of two keys, never splitting a surrogate pair. */
export function commonPrefix(a: string, b: string): string {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  // Do not end between the two halves of a character outside the BMP.
  if (i > 0 && i < a.length) {
    const last = a.charCodeAt(i - 1);
    if (last >= 0xd800 && last <= 0xdbff) i--;
  }
  return a.slice(0, i);
}

/** U+10FFFF, the greatest code point: the last character in UTF-8 order. */
const MAX_CHAR = String.fromCodePoint(0x10ffff);

/**
 * A string that sorts just before `key` (for `StartAfter`, which is exclusive): the last character is
 * decremented and followed by U+10FFFF. Only keys that extend that string with more U+10FFFF-led text
 * fall between the two, so a listing that starts here and drops keys below `key` wastes nothing in
 * practice — and stays exact in theory, because callers filter on `key`, not on this bound.
 */
export function keyBefore(key: string): string {
  if (key.length === 0) return '';
  const last = key.codePointAt(key.length - 1) ?? 0;
  // A trailing low surrogate belongs to a pair: step back over the whole character.
  const width = last >= 0xdc00 && last <= 0xdfff && key.length >= 2 ? 2 : 1;
  const cp = key.codePointAt(key.length - width) ?? 0;
  const head = key.slice(0, key.length - width);
  if (cp === 0) return head;
  // Code points D800–DFFF are not characters: step below them.
  const previous = cp - 1 >= 0xd800 && cp - 1 <= 0xdfff ? 0xd7ff : cp - 1;
  return head + String.fromCodePoint(previous) + MAX_CHAR;
}
