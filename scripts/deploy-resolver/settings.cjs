'use strict';
/**
 * The stage's settings: every parameter the resolver uses, read from serverless.yml's `params:` and
 * checked once per `sls` process (settingsOf), so that the two dozen lookups in serverless.yml share one
 * read instead of each parsing the parameters again.
 */
const { ParamError, ACCOUNT_ID, arns, boolean, integer, list, optional } = require('./params.cjs');
const { readDrAccountSettings } = require('./dr-account-settings.cjs');
const { readRules } = require('./rules.cjs');

const EVENT_SOURCES = ['notifications', 'eventbridge'];

/**
 * The shared bucket/region schemas (lib/core/names.ts), the ones config and payloads use. Node 22
 * requires a `.ts` ES module from CommonJS as is (type stripping, require(esm)); loaded on first use.
 */
const names = () => require('../../lib/core/names.ts');

/** `rate(1 hour)` → 3600. Cron schedules have no fixed period: those need `verifySilentSeconds`. */
function schedulePeriodSeconds(schedule) {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(String(schedule).trim());
  if (!match) return undefined;
  const unit = { minute: 60, hour: 3600, day: 86400 }[match[2].replace(/s$/, '')];
  return Number(match[1]) * unit;
}

/** Source, DR and restore-target buckets: valid names, and the DR bucket none of the others. */
async function readBuckets(param) {
  const sourceBuckets = list(await param('sourceBuckets'));
  if (sourceBuckets.length === 0) throw new ParamError('sourceBuckets', 'must name at least one bucket');
  const drBucket = String(await param('drBucket'));
  const restoreTargets = list(await param('restoreTargets'));
  for (const [name, buckets] of [
    ['sourceBuckets', sourceBuckets],
    ['drBucket', [drBucket]],
    ['restoreTargets', restoreTargets],
  ]) {
    for (const bucket of buckets) {
      const problem = names().bucketNameProblem(bucket);
      if (problem) {
        throw new ParamError(
          name,
          `holds ${JSON.stringify(bucket)}, which is not a valid S3 bucket name (${problem})`,
        );
      }
    }
  }
  if (sourceBuckets.includes(drBucket) || restoreTargets.includes(drBucket)) {
    throw new ParamError(
      'drBucket',
      'is also a source or restore target; replicating into itself would loop',
    );
  }
  const keyLayout = String(await param('keyLayout'));
  if (keyLayout === 'flat' && sourceBuckets.length > 1) {
    throw new ParamError(
      'keyLayout',
      'is "flat", which maps keys 1:1 and so allows only one source bucket; use "bucket-prefixed"',
    );
  }
  return { sourceBuckets, drBucket, restoreTargets };
}

/** The replicate function's timeout and batch window, and the verify alarms' periods. */
async function readTimings(param) {
  const replicateTimeout = integer('replicateTimeout', await param('replicateTimeout'), 30, 900);
  const replicateBatchWindow = integer('replicateBatchWindow', await param('replicateBatchWindow'), 0, 300);
  const verifySchedule = String(await param('verifySchedule'));
  const schedulePeriod = schedulePeriodSeconds(verifySchedule);
  const silentParam = await param('verifySilentSeconds');
  if (silentParam == null && schedulePeriod === undefined) {
    throw new ParamError(
      'verifySilentSeconds',
      `must be set when verifySchedule is not a rate(): ${verifySchedule}`,
    );
  }
  // CloudWatch periods are multiples of 60 s; one evaluation period of at most 7 days.
  const toPeriod = (seconds) => Math.max(60, Math.ceil(seconds / 60) * 60);
  const verifySilentSeconds = toPeriod(
    integer('verifySilentSeconds', silentParam ?? 3 * schedulePeriod, 60, 604_800),
  );
  const verifyDriftPeriod = toPeriod(Math.min(schedulePeriod ?? 3600, 86_400));
  return { replicateTimeout, replicateBatchWindow, verifySilentSeconds, verifyDriftPeriod };
}

/** Who administers the DR bucket, and its Object Lock default retention. */
async function readProtection(param, stackRole) {
  const adminPrincipalArns = arns(
    'adminPrincipalArn',
    optional('adminPrincipalArn', await param('adminPrincipalArn')),
  );
  const createDrBucket = String(await param('createDrBucket')) === 'true';
  if (stackRole === 'dr' && createDrBucket && adminPrincipalArns.length === 0) {
    throw new ParamError(
      'adminPrincipalArn',
      'must be set when the dr stack creates the DR bucket: the bucket policy lets only this principal ' +
        'delete versions or change versioning, lifecycle or the policy (deploy the dr stack as it)',
    );
  }
  const objectLockMode = optional('objectLockMode', await param('objectLockMode'));
  const objectLockDays = integer('objectLockDays', await param('objectLockDays'), 1, 36_500);
  if (objectLockMode !== undefined && objectLockMode !== 'GOVERNANCE' && objectLockMode !== 'COMPLIANCE') {
    throw new ParamError('objectLockMode', `must be GOVERNANCE, COMPLIANCE or unset, got ${objectLockMode}`);
  }
  return { adminPrincipalArns, createDrBucket, objectLockMode, objectLockDays };
}

/** An optional 12-digit account id. */
const accountId = (name, value) => {
  const text = optional(name, value);
  if (text !== undefined && !ACCOUNT_ID.test(text)) {
    throw new ParamError(name, `must be 12 digits, got ${text}`);
  }
  return text;
};

/** Where the stack runs and how events reach ingest. */
async function readAccountAndEvents(param) {
  const thawArchivedSources = boolean('thawArchivedSources', await param('thawArchivedSources'));
  const endpointUrl = optional('endpointUrl', await param('endpointUrl'));
  const awsAccountId = accountId('awsAccountId', await param('awsAccountId'));
  const drAccountId = accountId('drAccountId', await param('drAccountId'));
  const eventSource = String(await param('eventSource'));
  if (!EVENT_SOURCES.includes(eventSource)) {
    throw new ParamError(
      'eventSource',
      `must be "notifications" or "eventbridge", got ${JSON.stringify(eventSource)}`,
    );
  }
  return { thawArchivedSources, endpointUrl, awsAccountId, drAccountId, eventSource };
}

/** Parameters that were renamed or withdrawn: set, they would silently do nothing. */
async function refuseRetiredParams(param) {
  if ((await param('replicateReservedConcurrency')) != null) {
    throw new ParamError(
      'replicateReservedConcurrency',
      'is no longer used: Lambda throttles batches beyond reserved concurrency and each throttled receive ' +
        'counts toward maxReceiveCount, so tasks reached the DLQ unprocessed. Use replicateMaxConcurrency',
    );
  }
  if ((await param('runbookUrl')) != null) {
    throw new ParamError(
      'runbookUrl',
      'is replaced by runbooksUrl: where the runbooks/ folder is (each alarm description names its file there)',
    );
  }
}

/** Concurrency and retries of the replicate function and the job worker. */
async function readScaling(param) {
  // AWS: MaximumConcurrency of an SQS event source is 2 to 1000 ("Configuring maximum concurrency for
  // Amazon SQS event sources"); unset = no cap.
  const maxConcurrencyParam = await param('replicateMaxConcurrency');
  const replicateMaxConcurrency =
    maxConcurrencyParam == null
      ? undefined
      : integer('replicateMaxConcurrency', maxConcurrencyParam, 2, 1000);
  // Restore and verify jobs (lib/restore/job.ts): the job queue's worker. AWS: MaximumConcurrency is 2
  // to 1000 ("ScalingConfig", AWS Lambda API Reference); the worker runs up to 15 minutes per shard step.
  const jobMaxConcurrency = integer('jobMaxConcurrency', await param('jobMaxConcurrency'), 2, 1000);
  const jobWorkerTimeout = integer('jobWorkerTimeout', await param('jobWorkerTimeout'), 60, 900);
  const jobMaxReceiveCount = integer('jobMaxReceiveCount', await param('jobMaxReceiveCount'), 1, 1000);
  return { replicateMaxConcurrency, jobMaxConcurrency, jobWorkerTimeout, jobMaxReceiveCount };
}

/** The source region, checked with the schema the functions' config uses. */
async function readSourceRegion(param) {
  const sourceRegion = String(await param('sourceRegion'));
  const problem = names().regionProblem(sourceRegion);
  if (problem) throw new ParamError('sourceRegion', `is ${JSON.stringify(sourceRegion)}: it ${problem}`);
  return sourceRegion;
}

/** Reads and checks every parameter the resolver uses. */
async function readSettings(resolveVariable) {
  const param = (name) => resolveVariable(`param:${name}, null`);
  const stageNames = await resolveVariable('self:custom.names');

  const stackRole = String(await param('stackRole'));
  if (stackRole !== 'primary' && stackRole !== 'dr') {
    throw new ParamError('stackRole', `must be "primary" or "dr", got ${JSON.stringify(stackRole)}`);
  }
  const buckets = await readBuckets(param);
  const timings = await readTimings(param);
  const protection = await readProtection(param, stackRole);
  const accountAndEvents = await readAccountAndEvents(param);
  await refuseRetiredParams(param);
  const copyTags = String(await param('copyTags')) === 'true';
  const rules = readRules(await param('rules'), copyTags);
  const settings = {
    names: stageNames,
    stackRole,
    ...(await readScaling(param)),
    ...buckets,
    ...timings,
    ...protection,
    ...accountAndEvents,
    copyTags,
    rules,
    sourceRegion: await readSourceRegion(param),
    runbooksUrl: String(await param('runbooksUrl')),
    drKmsKeyArn: arns('kmsKeyArn', optional('kmsKeyArn', await param('kmsKeyArn')))[0],
    queueKmsKeyArn: arns('queueKmsKeyArn', optional('queueKmsKeyArn', await param('queueKmsKeyArn')))[0],
    sourceKmsKeyArns: arns('sourceKmsKeyArns', optional('sourceKmsKeyArns', await param('sourceKmsKeyArns'))),
  };
  return { ...settings, ...(await readDrAccountSettings(param, settings)) };
}

/**
 * One read per `sls` process and stage: osls resolves serverless.yml in a few passes, each handing its
 * lookups an `options` object of its own with the same CLI options (stage, --param …), so the read is
 * kept by their content. Tests, which call the exports directly, give no options: their
 * `resolveVariable` is the key then. A read that fails is not kept — osls retries a lookup whose
 * dependencies are not resolved yet (MISSING_VARIABLE_DEPENDENCY), and a bad parameter should fail
 * every lookup with its own message.
 */
const byOptions = new Map();
const byResolver = new WeakMap();
function settingsOf({ options, resolveVariable }) {
  const [cache, key] = options ? [byOptions, JSON.stringify(options)] : [byResolver, resolveVariable];
  let pending = cache.get(key);
  if (!pending) {
    pending = readSettings(resolveVariable);
    cache.set(key, pending);
    pending.catch(() => {
      if (cache.get(key) === pending) cache.delete(key);
    });
  }
  return pending;
}

/** A resolver export: `fn(settings)`, given the settings of this `sls` process. */
const fromSettings = (fn) => async (context) => fn(await settingsOf(context));

module.exports = { settingsOf, fromSettings, readSettings };
