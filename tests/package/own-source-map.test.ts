import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire, SourceMap, type SourceMapPayload } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { build, type Plugin } from 'esbuild';

const require = createRequire(import.meta.url);
const { keepOwnSources, decodeMappings, encodeMappings } = require('../../scripts/own-source-map.cjs') as {
  keepOwnSources(map: SourceMapPayload): SourceMapPayload;
  decodeMappings(mappings: string): number[][][];
  encodeMappings(lines: number[][][]): string;
};
const plugins = require('../../scripts/esbuild-plugins.cjs') as Plugin[];

/**
 * A bundle like a handler's: own code calling into a dependency under node_modules, built with the
 * options of serverless.yml custom.esbuild that shape the map (minify, keepNames, linked map).
 */
let dir: string;
let bundle: string;
let full: SourceMapPayload;
const own = [
  'export function ownCode(n: number) {',
  "  if (n > 1) throw new Error('own');",
  '  return dep(n);',
  '}',
];

async function bundleWith(usePlugins: Plugin[], outfile: string): Promise<SourceMapPayload> {
  await build({
    entryPoints: [join(dir, 'handler.ts')],
    outfile,
    bundle: true,
    minify: true,
    keepNames: false,
    sourcemap: 'linked',
    sourcesContent: false,
    format: 'cjs',
    platform: 'node',
    plugins: usePlugins,
    logLevel: 'silent',
  });
  return JSON.parse(await readFile(`${outfile}.map`, 'utf8')) as SourceMapPayload;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3dr-map-'));
  await mkdir(join(dir, 'node_modules/dep'), { recursive: true });
  // ESM, so that esbuild places it after first.ts (import order): a dependency's code then follows own
  // code, whose last mapping must not stretch over it.
  await writeFile(
    join(dir, 'node_modules/dep/package.json'),
    '{"name":"dep","type":"module","main":"index.js"}',
  );
  await writeFile(
    join(dir, 'node_modules/dep/index.js'),
    "export function dep(n) {\n  if (n < 0) throw new Error('dep');\n  return n * 2;\n}\n",
  );
  await writeFile(
    join(dir, 'first.ts'),
    "export const first = (n: number) => {\n  if (n) throw new Error('first');\n};\n",
  );
  await writeFile(
    join(dir, 'handler.ts'),
    `import { first } from './first.ts';\nimport { dep } from 'dep';\n${own.join('\n')}\nfirst(0);\n`,
  );
  bundle = join(dir, 'out/handler.cjs');
  full = await bundleWith([], join(dir, 'full/handler.cjs'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * The original position Node's --enable-source-maps would print for an error thrown in the bundle: the
 * lookup `SourceMap.findEntry` of node:module, which stack traces use (Node.js docs, "Modules: node:module
 * API › Source maps v3 support" and CLI `--enable-source-maps`).
 */
async function originOfThrow(message: string, map: SourceMapPayload, file: string) {
  const code = await readFile(file, 'utf8');
  const offset = code.indexOf(`Error("${message}")`);
  const line = code.slice(0, offset).split('\n').length - 1;
  const column = offset - (code.lastIndexOf('\n', offset) + 1);
  const entry = new SourceMap(map).findEntry(line, column) as {
    originalSource?: string;
    originalLine?: number;
  };
  return { source: entry.originalSource?.split('/').pop(), line: entry.originalLine };
}

describe('own-source-map: bundles map s3-dr code only (scripts/own-source-map.cjs)', () => {
  it('decodes and re-encodes esbuild mappings unchanged', () => {
    expect(encodeMappings(decodeMappings(full.mappings))).toBe(full.mappings);
  });

  it('keeps the TypeScript line of own code, as --enable-source-maps prints it', async () => {
    const map = await bundleWith(plugins, bundle);
    // handler.ts line 3 (0-based, after the two imports) throws 'own'.
    expect(await originOfThrow('own', map, bundle)).toEqual({ source: 'handler.ts', line: 3 });
    expect(await originOfThrow('first', map, bundle)).toEqual({ source: 'first.ts', line: 1 });
  });

  it("maps no position inside a dependency (without the plugin, it does: the test's control)", async () => {
    const filtered = await bundleWith(plugins, bundle);
    expect((await originOfThrow('dep', full, join(dir, 'full/handler.cjs'))).source).toBe('index.js');
    expect(await originOfThrow('dep', filtered, bundle)).toEqual({ source: undefined, line: undefined });
    expect(filtered.sources.some((s) => s.includes('node_modules'))).toBe(false);
  });

  it('leaves no names or sources that nothing maps to', () => {
    const filtered = keepOwnSources(full);
    const used = new Set(decodeMappings(filtered.mappings).flatMap((l) => l.map((s) => s[4])));
    used.delete(undefined as unknown as number);
    expect(used.size).toBe(filtered.names.length);
    expect(filtered.sources.map((s) => s.split('/').pop()).sort()).toEqual(['first.ts', 'handler.ts']);
  });
});
