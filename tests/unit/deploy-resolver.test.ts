/**
 * The deployment resolver (scripts/deploy-resolver/) reads the stage's parameters once per `sls` process:
 * osls hands the `${file(…):name}` lookups of one pass the same `options` (and later passes alike ones),
 * and each lookup then shares one checked read of the settings instead of parsing the parameters again.
 */
import { describe, expect, it } from '@jest/globals';
import { stubResolveVariable as counting, resolver } from '../helpers/resolver-stub.ts';

describe('deployment resolver settings', () => {
  it('reads each parameter once for all the lookups of one sls process (one options object)', async () => {
    const { reads, resolveVariable } = counting({});
    const options = { stage: 'test-one-read' };
    // Each lookup gets a resolveVariable of its own from osls, but the same options.
    const lookups = [
      resolver.checkParams,
      resolver.queueUrl,
      resolver.visibilityTimeout,
      resolver.iamRoleStatements.replicate,
      resolver.encryption.drSseAlgorithm,
    ];
    await Promise.all(
      lookups.map((lookup) => lookup({ options, resolveVariable: (n) => resolveVariable(n) })),
    );
    expect(reads.get('param:sourceBuckets, null')).toBe(1);
    expect(reads.get('self:custom.names')).toBe(1);
    expect([...reads.values()].every((count) => count === 1)).toBe(true);
    await expect(resolver.visibilityTimeout({ options, resolveVariable })).resolves.toBe(1800);
  });

  it('shares the read between the passes of one process (options objects alike), not between stages', async () => {
    const { reads, resolveVariable } = counting({});
    await resolver.checkParams({ options: { stage: 'test-a' }, resolveVariable });
    await resolver.checkParams({ options: { stage: 'test-a' }, resolveVariable });
    expect(reads.get('param:sourceBuckets, null')).toBe(1);
    await resolver.checkParams({ options: { stage: 'test-b' }, resolveVariable });
    expect(reads.get('param:sourceBuckets, null')).toBe(2);
  });

  it('keeps no failed read: a lookup osls retries later reads the parameters again', async () => {
    const options = { stage: 'test-retry' };
    const bad = counting({ replicateTimeout: 5 });
    await expect(resolver.checkParams({ options, resolveVariable: bad.resolveVariable })).rejects.toThrow(
      /"replicateTimeout" must be a whole number from 30 to 900/,
    );
    const good = counting({});
    await expect(resolver.checkParams({ options, resolveVariable: good.resolveVariable })).resolves.toBe(
      'ok',
    );
    expect(good.reads.get('param:sourceBuckets, null')).toBe(1);
  });

  it('refuses the retired runbookUrl, naming runbooksUrl, rather than keep links to README anchors', async () => {
    const { resolveVariable } = counting({ runbookUrl: 'https://example.com/README.md' });
    await expect(resolver.checkParams({ resolveVariable })).rejects.toThrow(
      /"runbookUrl" is replaced by runbooksUrl/,
    );
  });
});
