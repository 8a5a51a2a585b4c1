/**
 * Writes N objects into a bucket at a given concurrency, from its own process (so the load generator
 * does not share a core with the pipeline it measures). It speaks plain HTTP PUT, signed with the SDK's
 * own SigV4 signer (the emulator refuses unsigned requests, as S3 does) but without the rest of the SDK's
 * middleware: a full client costs ~0.5 ms of CPU per request, and on a 2-core machine the generator would
 * otherwise take the CPU the pipeline needs. Prints one JSON line: { written, ms, cpuMs } (cpuMs: this
 * process's user + system CPU time, so a benchmark can tell the writer's share of the CPU from the rest).
 * Usage: node bench/load-writer.ts <endpoint> <bucket> <prefix> <count> <bytes> <concurrency> [ratePerSecond]
 */
import { Agent, request } from 'node:http';
import { mapConcurrent } from '../lib/core/map-concurrent.ts';
import { localSigner, signedHeaders } from '../local/signed-fetch.ts';

const [endpoint = '', bucket = '', prefix = '', count = '0', bytes = '1024', concurrency = '32', rate = '0'] =
  process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const body = Buffer.alloc(Number(bytes), 7);
const base = new URL(endpoint);

const signer = localSigner(process.env.AWS_REGION ?? 'us-east-1');

async function put(key: string): Promise<void> {
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const headers = await signedHeaders(signer, {
    method: 'PUT',
    url: new URL(path, base),
    headers: { 'content-length': String(body.length), 'content-type': 'application/octet-stream' },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: base.hostname, port: base.port, method: 'PUT', path, headers },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const started = Date.now();
const interval = Number(rate) > 0 ? 1000 / Number(rate) : 0;
await mapConcurrent(
  Array.from({ length: Number(count) }, (_, i) => i),
  Number(concurrency),
  async (i) => {
    if (interval > 0) {
      const due = started + i * interval;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    await put(`${prefix}${String(i).padStart(6, '0')}`);
  },
);
const cpu = process.cpuUsage();
process.stdout.write(
  `${JSON.stringify({ written: Number(count), ms: Date.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`,
);
agent.destroy();
