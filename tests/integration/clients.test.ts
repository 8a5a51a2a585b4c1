import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { putObject, snapshot } from '../helpers/objects.ts';
import { runProcess } from '../helpers/run-process.ts';
import { scaled } from '../helpers/time-scale.ts';
import { findTool, tools } from '../helpers/tools.ts';

// Real clients, as a user would point them at `npm start`: the AWS CLI v2, rclone and boto3, found on PATH
// (installed by .ci/run). The delete policy is mirror here so deletes are visible in DR.
/** One client command takes seconds; the bound only stops a hung one, and says so. */
const run = (command: string, args: string[]) =>
  runProcess(command, args, { env: cliEnv, timeoutMs: scaled(60_000) });
const paths = { aws: '', rclone: '', python3: '' };
let rt: LocalRuntime;
let dir: string;
let cliEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  paths.aws = await findTool(tools.aws);
  paths.rclone = await findTool(tools.rclone);
  paths.python3 = await findTool(tools.python3);
  rt = await startLocalRuntime({ port: 0, quiet: true, env: { S3DR_DELETE_POLICY: 'mirror' } });
  dir = await mkdtemp(join(tmpdir(), 's3dr-clients-'));
  await writeFile(join(dir, 'config'), '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
  const { AWS_CA_BUNDLE: _ignored, ...rest } = process.env;
  cliEnv = {
    ...rest,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_CONFIG_FILE: join(dir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
    RCLONE_CONFIG_LOCAL_TYPE: 's3',
    RCLONE_CONFIG_LOCAL_PROVIDER: 'Other',
    RCLONE_CONFIG_LOCAL_ENDPOINT: rt.endpoint,
    RCLONE_CONFIG_LOCAL_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_LOCAL_ACCESS_KEY_ID: 'local',
    RCLONE_CONFIG_LOCAL_SECRET_ACCESS_KEY: 'local',
    RCLONE_CONFIG_LOCAL_REGION: 'us-east-1',
  };
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

const aws = (...args: string[]) => run(paths.aws, ['--endpoint-url', rt.endpoint, ...args]);
const rclone = (...args: string[]) => run(paths.rclone, args);

describe('writes and deletes made by other S3 clients', () => {
  it('replicates `aws s3 cp` of a key with a space and a plus, and mirrors `aws s3 rm`', async () => {
    const source = rt.config.sourceBuckets[0]!;
    await writeFile(join(dir, 'file'), 'from the AWS CLI\n');
    await aws('s3', 'cp', join(dir, 'file'), `s3://${source}/a b+c.txt`);
    await rt.drain(scaled(60_000));
    expect(await snapshot(rt.s3, rt.config.drBucket, 'a b+c.txt')).toEqual(
      await snapshot(rt.s3, source, 'a b+c.txt'),
    );

    await aws('s3', 'rm', `s3://${source}/a b+c.txt`);
    await rt.drain(scaled(60_000));
    expect(await snapshot(rt.s3, rt.config.drBucket, 'a b+c.txt')).toBeUndefined();
  }, 60_000);

  it('replicates a multipart upload made by `aws s3 cp` with its multipart ETag', async () => {
    const source = rt.config.sourceBuckets[0]!;
    await writeFile(join(dir, 'big'), Buffer.alloc(9 * 1024 * 1024, 3));
    await aws('s3', 'cp', join(dir, 'big'), `s3://${source}/cli/big.bin`);
    await rt.drain(scaled(60_000));
    const copy = await snapshot(rt.s3, rt.config.drBucket, 'cli/big.bin');
    expect(copy?.etag).toMatch(/-2"$/);
    expect(copy).toEqual(await snapshot(rt.s3, source, 'cli/big.bin'));
  }, 60_000);

  it('stores and replicates zero-byte objects from the AWS CLI, boto3, rclone and the SDK', async () => {
    // A zero-byte object is an ordinary S3 object: its ETag, for a single-part upload without SSE-KMS, is
    // the MD5 of its (empty) data ("Object" data type, Amazon S3 API Reference: "Objects created by the
    // PUT Object ... and are encrypted by SSE-S3 or plaintext, have ETags that are an MD5 digest of their
    // object data"). The CLI and boto3 send such a PUT with Content-Length 0 and no body at all.
    const source = rt.config.sourceBuckets[0]!;
    await aws('s3api', 'put-object', '--bucket', source, '--key', 'empty/aws-cli');
    await run(paths.python3, [
      '-c',
      'import sys, boto3; boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").put_object(Bucket=sys.argv[2], Key="empty/boto3")',
      rt.endpoint,
      source,
    ]);
    await writeFile(join(dir, 'nothing'), '');
    await rclone('copyto', join(dir, 'nothing'), `local:${source}/empty/rclone`);
    await putObject(rt.s3, source, 'empty/sdk', Buffer.alloc(0));
    await rt.drain(scaled(60_000));
    for (const client of ['aws-cli', 'boto3', 'rclone', 'sdk']) {
      const copy = await snapshot(rt.s3, rt.config.drBucket, `empty/${client}`);
      expect({ client, size: copy?.size, etag: copy?.etag }).toEqual({
        client,
        size: 0,
        etag: '"d41d8cd98f00b204e9800998ecf8427e"',
      });
    }
  }, 60_000);

  it('replicates `rclone copy` and mirrors `rclone delete`', async () => {
    const source = rt.config.sourceBuckets[0]!;
    await writeFile(join(dir, 'r one.txt'), 'from rclone\n');
    await rclone('copyto', join(dir, 'r one.txt'), `local:${source}/rclone/r one.txt`);
    await rt.drain(scaled(60_000));
    expect((await snapshot(rt.s3, rt.config.drBucket, 'rclone/r one.txt'))?.size).toBe(12);

    await rclone('delete', `local:${source}/rclone`);
    await rt.drain(scaled(60_000));
    expect(await snapshot(rt.s3, rt.config.drBucket, 'rclone/r one.txt')).toBeUndefined();
  }, 60_000);
});
