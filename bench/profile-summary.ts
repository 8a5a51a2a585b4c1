/**
 * `npm run bench:profile -- <file.cpuprofile> <objects>`: where a benchmark process's CPU went, per
 * replicated object. Reads a V8 CPU profile (`BENCH_CPU_PROF=<dir> npm run bench` writes one per
 * runtime phase, node --cpu-prof) and sums each sample's self time into a few categories — the SDK's
 * request pipeline by part, Node's HTTP client, Powertools, s3-dr's own code, start-up — then divides
 * by the objects the phase replicated (BENCH_N). The profile covers the whole phase, start-up included,
 * and sampling adds its own overhead: compare shares and profiles taken the same way, not the
 * absolute figures with `cpuMsPerObject` (process.cpuUsage, writes to DR only).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

type Rule = [category: string, test: (url: string, fn: string, stack: string) => boolean];

/** First match wins: start-up is told apart by its stack (module loading), the rest by the frame's file. */
const RULES: Rule[] = [
  ['idle', (_u, f) => f === '(idle)'],
  ['start-up: loading and compiling modules', (_u, _f, s) => /modules\/(esm|cjs)|amaro|realm/.test(s)],
  [
    'SDK: SigV4 signing (signature-v4, node crypto)',
    (u) => /signature-v4|crypto\/hash|httpAuthSchemes/.test(u),
  ],
  ['SDK: endpoint resolution', (u) => /endpoint/.test(u)],
  ['SDK: (de)serialisation (schemas, JSON/XML protocols)', (u) => /schema|protocols|xml-builder/.test(u)],
  ['SDK: retry', (u) => /@smithy.*retry/.test(u)],
  ['SDK: other middleware and client', (u) => /@smithy|@aws-sdk/.test(u)],
  [
    "Node's HTTP client, sockets, streams (socket writes included)",
    (u, f) =>
      /^node:(_http|net|internal\/(streams|stream_base|url|buffer)|events|buffer|stream)/.test(u) ||
      /^(writev|writeLatin1String|writeUtf8String|writeBuffer|utf8Slice|latin1Slice)$/.test(f),
  ],
  ['garbage collection', (_u, f) => f === '(garbage collector)'],
  ['promise jobs and ticks', (u, f) => /runMicrotasks|processTicksAndRejections|task_queues/.test(f + u)],
  ['Powertools (logger, metrics, batch)', (u) => /powertools/.test(u)],
  ['middy', (u) => /@middy/.test(u)],
  ['zod', (u) => /\/zod\//.test(u)],
  ['JSON.parse / JSON.stringify', (u, f) => u === '' && /^(parse|stringify)$/.test(f)],
  ['local runtime (poller, notifier, emulator link)', (u) => /\/local\//.test(u)],
  ["s3-dr's handlers and domain (functions/, lib/)", (u) => /\/(lib|functions)\//.test(u)],
  ['benchmark harness', (u) => /\/bench\//.test(u)],
];

/** Milliseconds of self time by category. */
export function summarise(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const out = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame ?? { functionName: '', url: '' };
    let stack = '';
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur))
      stack += ` ${byId.get(cur)?.callFrame.url ?? ''}`;
    const url = frame.url.replace(/^file:\/\//, '');
    const rule = RULES.find(([, test]) => test(url, frame.functionName, stack));
    const category = rule?.[0] ?? 'other (V8 builtins, timers, native)';
    out.set(category, (out.get(category) ?? 0) + us / 1000);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, objects] = process.argv.slice(2);
  if (!file || !objects) throw new Error('usage: npm run bench:profile -- <file.cpuprofile> <objects>');
  const n = Number(objects);
  const ms = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const busy = [...ms].filter(([k]) => k !== 'idle').reduce((a, [, v]) => a + v, 0);
  process.stdout.write(`busy: ${(busy / n).toFixed(3)} ms per object (${busy.toFixed(0)} ms)\n`);
  for (const [category, v] of [...ms].sort((a, b) => b[1] - a[1])) {
    if (category === 'idle') continue;
    const share = ((100 * v) / busy).toFixed(1).padStart(5);
    process.stdout.write(`${(v / n).toFixed(3).padStart(7)} ms/object ${share} %  ${category}\n`);
  }
}
