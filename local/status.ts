import { channel } from 'node:diagnostics_channel';
import type { OutcomeEvent } from '../lib/core/telemetry.ts';

/** Percentile of a sorted sample (nearest rank). */
function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One job as the status page lists it. */
export interface StatusJob {
  job: string;
  state: string;
  summary: string;
}

export interface StatusSnapshot {
  uptimeSeconds: number;
  eventsIngested: number;
  objectsCopied: number;
  bytesCopied: number;
  objectsDeleted: number;
  objectsSkipped: number;
  objectsRetained: number;
  /** DR copies whose tag set alone was brought up to date. */
  objectsTagged: number;
  /** Sources S3 cannot copy as they are (archived, SSE-C), and archived ones being restored. */
  objectsUnreplicable: number;
  objectsThawing: number;
  failures: number;
  ingestFailures: number;
  queueDepth: number;
  queueInFlight: number;
  dlqDepth: number;
  lagP50Ms: number | undefined;
  lagP99Ms: number | undefined;
  verify: { runs: number; lastCounts?: Record<string, number>; lastPassComplete?: boolean; lastAt?: string };
  restore: { objects: number; bytes: number; failures: number };
  /** Samples over time, one per second, for the status page's charts. */
  series: {
    t: number;
    copied: number;
    deleted: number;
    ingested: number;
    queueDepth: number;
    dlqDepth: number;
  }[];
}

/**
 * Counts what the handlers report on the `s3dr:outcome` diagnostics channel — the same outcomes that
 * become CloudWatch metrics in Lambda — plus queue depths sampled from SQS, for the terminal status
 * line and the status page. The channel is looked up by name, so this module loads no handler code.
 */
export class StatusBoard {
  private readonly started = Date.now();
  private readonly lags: number[] = [];
  private readonly counters = {
    eventsIngested: 0,
    objectsCopied: 0,
    bytesCopied: 0,
    objectsDeleted: 0,
    objectsSkipped: 0,
    objectsRetained: 0,
    objectsTagged: 0,
    objectsUnreplicable: 0,
    objectsThawing: 0,
    failures: 0,
    ingestFailures: 0,
  };
  private queue = { depth: 0, inFlight: 0, dlq: 0 };
  private readonly verify: StatusSnapshot['verify'] = { runs: 0 };
  private readonly restore = { objects: 0, bytes: 0, failures: 0 };
  private readonly series: StatusSnapshot['series'] = [];
  private readonly listener = (message: unknown) => this.onOutcome(message as OutcomeEvent);
  private jobsSource: (() => Promise<StatusJob[]>) | undefined;

  constructor() {
    channel('s3dr:outcome').subscribe(this.listener);
  }

  close(): void {
    channel('s3dr:outcome').unsubscribe(this.listener);
  }

  recordIngestFailure(): void {
    this.counters.ingestFailures += 1;
  }

  /** Where the page's list of running and recent jobs comes from (read from the DR bucket on request). */
  setJobsSource(source: () => Promise<StatusJob[]>): void {
    this.jobsSource = source;
  }

  /** The snapshot with the stage's running and recent jobs, newest first (the status page's JSON). */
  async snapshotWithJobs(): Promise<StatusSnapshot & { jobs: StatusJob[] }> {
    const jobs = this.jobsSource ? await this.jobsSource().catch(() => []) : [];
    return { ...this.snapshot(), jobs };
  }

  setQueueDepths(depth: number, inFlight: number, dlq: number): void {
    this.queue = { depth, inFlight, dlq };
  }

  /** Appends a point to the time series (called once per second). */
  sample(): void {
    const c = this.counters;
    this.series.push({
      t: Date.now(),
      copied: c.objectsCopied,
      deleted: c.objectsDeleted,
      ingested: c.eventsIngested,
      queueDepth: this.queue.depth,
      dlqDepth: this.queue.dlq,
    });
    if (this.series.length > 600) this.series.shift();
  }

  snapshot(): StatusSnapshot {
    const sorted = [...this.lags].sort((a, b) => a - b);
    return {
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      ...this.counters,
      queueDepth: this.queue.depth,
      queueInFlight: this.queue.inFlight,
      dlqDepth: this.queue.dlq,
      lagP50Ms: percentile(sorted, 50),
      lagP99Ms: percentile(sorted, 99),
      verify: { ...this.verify },
      restore: { ...this.restore },
      series: [...this.series],
    };
  }

  /** One line for people: what happened so far and how far behind replication is. */
  line(): string {
    const s = this.snapshot();
    const ms = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v)}ms`);
    return (
      `events ${s.eventsIngested} | copied ${s.objectsCopied} | deleted ${s.objectsDeleted} | ` +
      `skipped ${s.objectsSkipped} | retained ${s.objectsRetained} | tagged ${s.objectsTagged} | ` +
      `failed ${s.failures} | ` +
      `queue ${s.queueDepth}+${s.queueInFlight} | DLQ ${s.dlqDepth} | lag p50 ${ms(s.lagP50Ms)} p99 ${ms(s.lagP99Ms)}` +
      (s.verify.lastCounts
        ? ` | verify ${Object.entries(s.verify.lastCounts)
            .map(([k, v]) => `${k} ${v}`)
            .join(' ')}`
        : '')
    );
  }

  private onOutcome(event: OutcomeEvent): void {
    const c = this.counters;
    switch (event.type) {
      case 'ingested':
        c.eventsIngested += event.queued;
        break;
      case 'replicated':
        if (event.action === 'copied') {
          c.objectsCopied += 1;
          c.bytesCopied += event.bytes;
        } else if (event.action === 'deleted') c.objectsDeleted += 1;
        // Keys a replication rule excludes are skipped work, as far as the status line goes.
        else if (event.action === 'skipped' || event.action === 'excluded') c.objectsSkipped += 1;
        else if (event.action === 'tagged') c.objectsTagged += 1;
        else if (event.action === 'unreplicable') c.objectsUnreplicable += 1;
        else if (event.action === 'thawing') c.objectsThawing += 1;
        else c.objectsRetained += 1;
        if (event.lagMs !== undefined) {
          this.lags.push(event.lagMs);
          if (this.lags.length > 100_000) this.lags.splice(0, this.lags.length - 100_000);
        }
        break;
      case 'replicate-failed':
        c.failures += 1;
        break;
      case 'verified':
        this.verify.runs += 1;
        this.verify.lastCounts = event.counts;
        this.verify.lastPassComplete = event.passComplete;
        this.verify.lastAt = new Date().toISOString();
        break;
      case 'restored':
        this.restore.objects += event.objects;
        this.restore.bytes += event.bytes;
        this.restore.failures += event.failures;
        break;
    }
  }
}
