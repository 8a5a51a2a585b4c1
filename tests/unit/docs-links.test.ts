/**
 * The documentation set holds together: every relative link in README.md, CONTRIBUTING.md, docs/ and
 * runbooks/ lands on a file (and heading) that exists, every invariant the code cites by number is one
 * docs/design.md defines, every docs/ or runbooks/ page the code names exists, the runbook files the
 * alarms point at exist, and the README stays short enough to read (issue #15, step 5).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Files under `dir` (relative to the repository) whose names end with one of `exts`; node_modules skipped. */
function filesUnder(dir: string, exts: readonly string[]): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [dir];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(rel, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) out.push(rel);
  }
  return out.sort();
}

const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(markdown: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced) out.push({ line, n: i + 1 });
  });
  return out;
}

/**
 * The anchors GitHub gives a page's headings: the heading's text (link targets and emphasis marks
 * dropped), lower-cased, every character that is not a letter, digit, mark, connector, space or hyphen
 * removed, each space a hyphen; a repeated slug gets `-1`, `-2`, … (github-slugger).
 */
function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { line } of proseLines(markdown)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m?.[1]) continue;
    const text = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Why a link target `target` written in the markdown file `from` does not resolve, or undefined. */
function brokenLink(from: string, target: string): string | undefined {
  const [path = '', anchor] = target.split('#', 2);
  const file = path === '' ? from : relative(ROOT, resolve(ROOT, dirname(from), decodeURIComponent(path)));
  if (file.startsWith('..')) return `${target} points outside the repository`;
  if (!existsSync(join(ROOT, file))) return `${target}: no file ${file}`;
  if (anchor === undefined || anchor === '') return undefined;
  if (!file.endsWith('.md')) return undefined;
  if (!headingAnchors(read(file)).has(anchor)) return `${target}: ${file} has no heading #${anchor}`;
  return undefined;
}

const DOCS = [
  'README.md',
  'CONTRIBUTING.md',
  ...filesUnder('docs', ['.md']),
  ...filesUnder('runbooks', ['.md']),
];
const CODE_DIRS = ['lib', 'functions', 'local', 'scripts', 'tests', 'bench'];
const CODE = [
  ...CODE_DIRS.flatMap((d) => filesUnder(d, ['.ts', '.cjs', '.js', '.mjs'])),
  ...['serverless.yml', 'biome.json', 'jest.config.js', '.ci/run'].filter((f) => existsSync(join(ROOT, f))),
];

describe('the documentation set', () => {
  it('finds the pages it checks (README, CONTRIBUTING, docs/, runbooks/)', () => {
    expect(DOCS).toEqual(
      expect.arrayContaining(['README.md', 'CONTRIBUTING.md', 'docs/design.md', 'runbooks/README.md']),
    );
    for (const f of DOCS) expect(existsSync(join(ROOT, f))).toBe(true);
  });

  it('has no relative link to a missing file or heading', () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      for (const { line, n } of proseLines(read(file))) {
        // Inline code is not a link, even when it looks like one.
        const prose = line.replace(/`[^`]*`/g, '');
        for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
          const target = m[1] ?? '';
          if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
          const why = brokenLink(file, target);
          if (why) broken.push(`${file}:${n}: ${why}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('defines every invariant the code cites as "docs/design.md, invariant N"', () => {
    const design = read('docs/design.md');
    const section = design.slice(design.indexOf('## Invariants'));
    const defined = new Set([...section.matchAll(/^(\d+)\. \*\*/gm)].map((m) => Number(m[1])));
    expect(defined.size).toBeGreaterThanOrEqual(8);

    const cited: string[] = [];
    const undefinedCitations: string[] = [];
    // A citation may wrap onto the next comment line (`docs/design.md,\n * invariant 4`).
    const citation = /docs\/design\.md,(?:\s|\*|\/\/|#)*invariants?\s+(\d+(?:(?:\s*,\s*|\s+and\s+)\d+)*)/g;
    for (const file of CODE) {
      for (const m of read(file).matchAll(citation)) {
        for (const n of (m[1] ?? '').split(/\s*,\s*|\s+and\s+/).map(Number)) {
          cited.push(`${file}: ${n}`);
          if (!defined.has(n)) undefinedCitations.push(`${file} cites invariant ${n}`);
        }
      }
    }
    expect(cited.length).toBeGreaterThan(10);
    expect(undefinedCitations).toEqual([]);
  });

  it('has every docs/ and runbooks/ page the code names', () => {
    const missing: string[] = [];
    const mention = /(?<![\w/.-])((?:docs|runbooks)\/[\w./-]*?\.md)(#[\w-]+)?/g;
    let mentions = 0;
    for (const file of CODE) {
      for (const m of read(file).matchAll(mention)) {
        mentions++;
        const why = brokenLink('README.md', `${m[1]}${m[2] ?? ''}`);
        if (why) missing.push(`${file}: ${why}`);
      }
    }
    expect(mentions).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  it('has the runbook every alarm links to, under the agreed names', () => {
    const names = [
      'restore',
      'dlq-not-empty',
      'replication-lag',
      'verify-drift',
      'verify-silent',
      'function-errors',
      'function-throttles',
      'job-stalled',
      'job-dlq-not-empty',
      'unreplicable',
    ];
    expect(names.filter((n) => !existsSync(join(ROOT, 'runbooks', `${n}.md`)))).toEqual([]);
  });

  it('keeps the README within 200 lines', () => {
    expect(read('README.md').trimEnd().split('\n').length).toBeLessThanOrEqual(200);
  });
});

describe('headingAnchors', () => {
  it('slugs headings as GitHub does', () => {
    const md = [
      '# Benchmark (`npm run bench`)',
      '## 4. Into a new bucket, from the DR region',
      "### The emulator's listing order",
      '## Archived DR copies (GLACIER, DEEP_ARCHIVE)',
      '## Limits',
      '```',
      '# not a heading',
      '```',
      '## Limits',
    ].join('\n');
    expect([...headingAnchors(md)]).toEqual([
      'benchmark-npm-run-bench',
      '4-into-a-new-bucket-from-the-dr-region',
      'the-emulators-listing-order',
      'archived-dr-copies-glacier-deep_archive',
      'limits',
      'limits-1',
    ]);
  });
});
