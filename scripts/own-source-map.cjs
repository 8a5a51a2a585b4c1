'use strict';
/**
 * Keeps only s3-dr's own sources in a bundle's source map (docs/performance.md#cold-starts).
 *
 * The Lambdas run with NODE_OPTIONS=--enable-source-maps so that a stack trace names the TypeScript
 * line of lib/ and functions/. The map esbuild writes also covers every dependency it bundled (the AWS
 * SDK, zod, Powertools: nine tenths of the mappings), which made the map larger than the bundle, most
 * of the zipped artifact, and a cost at every cold start (Node reads and parses the map at load).
 * Here the mappings of sources under node_modules/ are cut: a frame inside the SDK then shows its
 * position in the bundle (`replicate.cjs:1:…`), a frame in s3-dr's code still its .ts line.
 *
 * A cut segment becomes an unmapped one (generated column only) rather than disappearing, or the
 * preceding own segment would stretch over the dependency's code. Unused sources and names go too.
 * Source Map Revision 3 format: https://tc39.es/ecma426/ (mappings: VLQ base64 segments, `,` between
 * segments, `;` between generated lines; fields relative to the previous segment).
 */

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

/** The VLQ fields of one segment. */
function decodeSegment(text) {
  const fields = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const digit = DIGIT.get(c);
    if (digit === undefined) throw new Error(`invalid base64 VLQ character ${JSON.stringify(c)}`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  if (shift !== 0) throw new Error(`truncated VLQ segment ${JSON.stringify(text)}`);
  return fields;
}

function encodeField(n) {
  let value = n < 0 ? (-n << 1) | 1 : n << 1;
  let out = '';
  do {
    let digit = value & 31;
    value >>>= 5;
    if (value > 0) digit |= 32;
    out += BASE64[digit];
  } while (value > 0);
  return out;
}

/** Segments with absolute values: [column] or [column, source, line, sourceColumn(, name)], per line. */
function decodeMappings(mappings) {
  const state = [0, 0, 0, 0];
  return mappings.split(';').map((line) => {
    let column = 0;
    return line
      .split(',')
      .filter((s) => s.length > 0)
      .map((text) => {
        const f = decodeSegment(text);
        column += f[0];
        if (f.length === 1) return [column];
        state[0] += f[1];
        state[1] += f[2];
        state[2] += f[3];
        if (f.length === 4) return [column, state[0], state[1], state[2]];
        state[3] += f[4];
        return [column, state[0], state[1], state[2], state[3]];
      });
  });
}

function encodeMappings(lines) {
  const state = [0, 0, 0, 0];
  return lines
    .map((segments) => {
      let column = 0;
      return segments
        .map((s) => {
          let out = encodeField(s[0] - column);
          column = s[0];
          if (s.length > 1) {
            out += encodeField(s[1] - state[0]) + encodeField(s[2] - state[1]) + encodeField(s[3] - state[2]);
            state[0] = s[1];
            state[1] = s[2];
            state[2] = s[3];
          }
          if (s.length > 4) {
            out += encodeField(s[4] - state[3]);
            state[3] = s[4];
          }
          return out;
        })
        .join(',');
    })
    .join(';');
}

const isDependency = (source) => /(^|[/\\])node_modules[/\\]/.test(source);

/**
 * The map with the mappings of dependencies (sources under node_modules/) removed, and the sources,
 * sourcesContent and names nothing maps to any more.
 */
function keepOwnSources(map) {
  const sources = map.sources ?? [];
  const keep = sources.map((s) => !isDependency(s));
  const lines = decodeMappings(map.mappings).map((segments) => {
    const out = [];
    for (const s of segments) {
      const mapped = s.length === 1 || keep[s[1]] ? s : [s[0]];
      // Two unmapped segments in a row on a line say no more than the first. One that starts a line is
      // kept: Node's lookup (lib/internal/source_map/source_map.js, findEntry) falls back to the
      // previous line's last segment.
      if (mapped.length === 1 && out[out.length - 1]?.length === 1) continue;
      out.push(mapped);
    }
    return out;
  });
  const sourceIndex = new Map();
  const nameIndex = new Map();
  for (const segments of lines) {
    for (const s of segments) {
      if (s.length > 1 && !sourceIndex.has(s[1])) sourceIndex.set(s[1], sourceIndex.size);
      if (s.length > 4 && !nameIndex.has(s[4])) nameIndex.set(s[4], nameIndex.size);
    }
  }
  const renumbered = lines.map((segments) =>
    segments.map((s) => {
      if (s.length === 1) return s;
      const r = [s[0], sourceIndex.get(s[1]), s[2], s[3]];
      if (s.length > 4) r.push(nameIndex.get(s[4]));
      return r;
    }),
  );
  const pick = (list, index) => {
    const out = [];
    for (const [old, i] of index) out[i] = list[old];
    return out;
  };
  const result = { ...map, sources: pick(sources, sourceIndex), names: pick(map.names ?? [], nameIndex) };
  if (map.sourcesContent) result.sourcesContent = pick(map.sourcesContent, sourceIndex);
  result.mappings = encodeMappings(renumbered);
  return result;
}

module.exports = { keepOwnSources, decodeMappings, encodeMappings };
