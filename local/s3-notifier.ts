import type { ObjectEvent } from './emulator.ts';

/** Encodes a key as S3 does in event notifications: URL-encoded, spaces as `+`, slashes kept. */
export function encodeEventKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}

/**
 * Builds S3 notification records (eventVersion 2.1) for object events, with a `sequencer` that
 * increases for every event (so per key too), and hands them to `deliver` in small groups.
 *
 * S3 sends one record per notification. Locally, events that occur within `windowMs` of each other are
 * delivered together (at most `maxRecords` per invocation) to spare the CPU thousands of tiny
 * invocations under load; the ingest handler treats a notification of N records exactly as N
 * notifications of one (tests/unit/ingest.test.ts).
 */
export class S3Notifier {
  private sequence = 0n;
  private pending: unknown[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly region: string;
  private readonly buckets: ReadonlySet<string>;
  private readonly deliver: (event: { Records: unknown[] }) => void;
  private readonly windowMs: number;
  private readonly maxRecords: number;

  constructor(options: {
    region: string;
    buckets: Iterable<string>;
    deliver: (event: { Records: unknown[] }) => void;
    windowMs?: number;
    maxRecords?: number;
  }) {
    this.region = options.region;
    this.buckets = new Set(options.buckets);
    this.deliver = options.deliver;
    this.windowMs = options.windowMs ?? 5;
    this.maxRecords = options.maxRecords ?? 10;
  }

  /** Records an object event if it happened in a notified bucket. */
  notify(event: ObjectEvent): void {
    if (!this.buckets.has(event.bucket)) return;
    this.sequence += 1n;
    this.pending.push(this.record(event, this.sequence.toString(16).toUpperCase().padStart(16, '0')));
    if (this.pending.length >= this.maxRecords) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
  }

  /** Delivers whatever is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length > 0) this.deliver({ Records: this.pending.splice(0, this.maxRecords) });
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  private record(event: ObjectEvent, sequencer: string) {
    const requestId = sequencer.slice(-16);
    // S3 uses event structure 2.3 for object tagging events, and a sequencer "only with PUTs and
    // DELETEs" (User Guide, "Event message structure"): ingest must not need one.
    const tagging = event.eventName.startsWith('ObjectTagging:');
    return {
      eventVersion: tagging ? '2.3' : '2.1',
      eventSource: 'aws:s3',
      awsRegion: this.region,
      eventTime: event.time.toISOString(),
      eventName: event.eventName,
      userIdentity: { principalId: 'AWS:LOCAL' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': requestId, 'x-amz-id-2': 'local' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 's3-dr-local',
        bucket: {
          name: event.bucket,
          ownerIdentity: { principalId: 'LOCAL' },
          arn: `arn:aws:s3:::${event.bucket}`,
        },
        object: {
          key: encodeEventKey(event.key),
          ...(event.size === undefined ? {} : { size: event.size }),
          ...(event.etag === undefined ? {} : { eTag: event.etag }),
          ...(tagging ? {} : { sequencer }),
        },
      },
    };
  }
}
