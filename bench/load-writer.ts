/**
 * Writes N objects into a bucket at a given concurrency, from its own process (so the load generator
 * does not share a core with the pipeline it measures). Prints one JSON line: { written, ms }.
 * Usage: node bench/load-writer.ts <endpoint> <bucket> <prefix> <count> <bytes> <concurrency> [ratePerSecond]
 */

import { Agent } from 'node:http';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mapConcurrent } from '../lib/map-concurrent.ts';

const [endpoint = '', bucket = '', prefix = '', count = '0', bytes = '1024', concurrency = '32', rate = '0'] =
  process.argv.slice(2);
const s3 = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: Number(concurrency) }) },
});
const body = Buffer.alloc(Number(bytes), 7);
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
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${String(i).padStart(6, '0')}`, Body: body }),
    );
  },
);
process.stdout.write(`${JSON.stringify({ written: Number(count), ms: Date.now() - started })}\n`);
s3.destroy();
