/**
 * The job worker's handling of one job-queue message (lib/jobs/batch.ts): what fails, what is retried,
 * and what is recorded on the job at a message's last try. SQS moves a message to the dead-letter queue
 * once its receive count exceeds the redrive policy's maxReceiveCount ("Using dead-letter queues in
 * Amazon SQS", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues):
 * the delivery whose ApproximateReceiveCount equals maxReceiveCount is the last one a handler sees.
 */
import { describe, expect, it } from '@jest/globals';
import { ShardBusyError } from '../../lib/core/errors.ts';
import { type JobMessageHandler, jobMessages } from '../../lib/jobs/batch.ts';
import type { JobMessage } from '../../lib/jobs/model.ts';
import { delivery } from '../helpers/job-worker.ts';
import { logWith } from '../helpers/telemetry.ts';

const shard: JobMessage = {
  v: 1,
  kind: 'shard',
  job: 'test.restore.20261201T100000000Z.0123456789ab',
  shard: 3,
};

/** A worker whose every kind answers `outcome` (or throws it), recording what reached onLastFailure. */
function worker(outcome: 'done' | 'busy' | Error, recordFails = false) {
  const recorded: { message: JobMessage; error: unknown }[] = [];
  const errors: string[] = [];
  const handler: JobMessageHandler<JobMessage> = {
    run: async () => {
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
    onLastFailure: async (message, error) => {
      if (recordFails) throw new Error('the DR bucket is unreachable');
      recorded.push({ message, error });
    },
  };
  const handle = jobMessages(
    { plan: handler, shard: handler, run: handler },
    { logger: logWith({ error: (message) => void errors.push(message) }), maxReceiveCount: 5 },
  );
  return { handle, recorded, errors };
}

describe('job messages', () => {
  it('fail a try that throws, and record nothing on the job before the last try', async () => {
    const { handle, recorded } = worker(new Error('S3 said 503'));
    await expect(handle(delivery(shard, 4))).rejects.toThrow('S3 said 503');
    expect(recorded).toEqual([]);
  });

  it("record a failure at the last try (receive count = maxReceiveCount) with the kind's onLastFailure, then fail it", async () => {
    const { handle, recorded, errors } = worker(new Error('S3 said 503'));
    await expect(handle(delivery(shard, 5))).rejects.toThrow('S3 said 503');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.message).toEqual(shard);
    expect(errors).toContain('a job message failed its last try and moves to the job DLQ');
  });

  it('retry a busy answer before the last try without recording anything', async () => {
    const { handle, recorded } = worker('busy');
    await expect(handle(delivery(shard, 1))).rejects.toThrow(ShardBusyError);
    expect(recorded).toEqual([]);
  });

  it('record a busy answer at the last try as a failure naming the work held, so the job does not wait for a dead-lettered message', async () => {
    const { handle, recorded } = worker('busy');
    await expect(handle(delivery(shard, 5))).rejects.toThrow(ShardBusyError);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.error).toBeInstanceOf(ShardBusyError);
    expect(recorded[0]?.error).toHaveProperty(
      'message',
      expect.stringMatching(/another delivery held shard 3 of job .* at each of its 5 tries/),
    );
  });

  it('still fail the message with its own error when recording the failure fails, and log both', async () => {
    const { handle, errors } = worker(new Error('S3 said 503'), true);
    await expect(handle(delivery(shard, 5))).rejects.toThrow('S3 said 503');
    expect(errors).toContain('recording a job message failure on its job failed');
  });

  it('succeed a done answer at any try, and drop a body that is not a job message', async () => {
    const { handle, recorded } = worker('done');
    await expect(handle(delivery(shard, 5))).resolves.toBeUndefined();
    await expect(
      handle({ messageId: 'x', body: '{"kind":"other"}', receiveCount: 5 }),
    ).resolves.toBeUndefined();
    expect(recorded).toEqual([]);
  });
});
