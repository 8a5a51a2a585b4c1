/**
 * tests/helpers/tools.ts finds system tools on PATH: the first one that passes its probe (this machine puts
 * pyenv's AWS CLI v1 ahead of Debian's v2 on PATH), and a missing one fails saying what .ci/run installs.
 */
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { findTool, tools } from '../helpers/tools.ts';

let dir: string;

/** A fake `aws` in its own PATH directory that prints `version`. */
async function fakeAws(name: string, version: string): Promise<string> {
  const bin = join(dir, name);
  await mkdir(bin);
  await writeFile(join(bin, 'aws'), `#!/bin/sh\necho "${version}"\n`);
  await chmod(join(bin, 'aws'), 0o755);
  return bin;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3dr-tools-'));
});

describe('findTool', () => {
  it('takes the first tool on PATH that passes its probe, skipping an older one ahead of it', async () => {
    const v1 = await fakeAws('v1', 'aws-cli/1.45.11 Python/3.11.7');
    const v2 = await fakeAws('v2', 'aws-cli/2.9.19 Python/3.11.2');
    expect(await findTool(tools.aws, [join(dir, 'none'), v1, v2].join(':'))).toBe(join(v2, 'aws'));
  });

  it('fails naming the package to install, and the ones on PATH that did not pass', async () => {
    const old = await fakeAws('old', 'aws-cli/1.0.0');
    await expect(findTool(tools.aws, old)).rejects.toThrow(
      `aws not found on PATH (on PATH but failing \`--version\`: ${join(old, 'aws')}): install awscli (see .ci/run)`,
    );
    await expect(findTool(tools.rclone, join(dir, 'none'))).rejects.toThrow(
      'rclone not found on PATH: install rclone (see .ci/run)',
    );
  });
});
