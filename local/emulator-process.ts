/**
 * Entry point of the emulator's own process. The local runtime runs fauxqs here, apart from the
 * handlers, so the emulator and the handlers each get a core (Node runs one thread per process). Object
 * events travel to the parent over IPC, a tick's worth at a time; the status page asks the parent.
 */
import { type ObjectEvent, startEmulator } from './emulator.ts';
import type { StatusSnapshot } from './status.ts';
import { registerStatusPage } from './status-page.ts';

type ParentMessage =
  | { type: 'status'; id: number; snapshot: StatusSnapshot }
  | { type: 'request-counts'; id: number }
  | { type: 'cpu-usage'; id: number }
  | { type: 's3-latency'; id: number; ms: number }
  | { type: 'stop' };

const send = (message: unknown) => process.send?.(message);
const waiting = new Map<number, (s: StatusSnapshot) => void>();
let nextId = 0;

const emulator = await startEmulator({
  port: Number(process.env.S3DR_EMULATOR_PORT ?? 0),
  dataDir: process.env.S3DR_EMULATOR_DATA_DIR || undefined,
  beforeListen: (app) =>
    registerStatusPage(
      app,
      () =>
        new Promise<StatusSnapshot>((resolve) => {
          const id = nextId++;
          waiting.set(id, resolve);
          send({ type: 'status?', id });
        }),
    ),
});

let batch: ObjectEvent[] = [];
emulator.onObjectEvent((event) => {
  if (batch.length === 0)
    setImmediate(() => {
      send({ type: 'events', events: batch });
      batch = [];
    });
  batch.push(event);
});

process.on('message', async (message: ParentMessage) => {
  if (message.type === 'status') {
    waiting.get(message.id)?.(message.snapshot);
    waiting.delete(message.id);
  } else if (message.type === 'request-counts') {
    send({ type: 'request-counts', id: message.id, answer: await emulator.requestCounts() });
  } else if (message.type === 'cpu-usage') {
    send({ type: 'cpu-usage', id: message.id, answer: process.cpuUsage() });
  } else if (message.type === 's3-latency') {
    await emulator.setS3LatencyMs(message.ms);
    send({ type: 's3-latency', id: message.id });
  } else if (message.type === 'stop') {
    await emulator.stop();
    process.disconnect();
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', port: emulator.port });
