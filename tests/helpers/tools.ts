/**
 * System tools (the AWS CLI, rclone, boto3's Python, Chromium) found on PATH rather than at a fixed path,
 * so the tests run wherever .ci/run installed them. A PATH may hold more than one of a name — this machine
 * puts pyenv's AWS CLI v1 and a Python without boto3 ahead of Debian's — so a tool can come with a probe,
 * and the first one on PATH that passes it is used. .ci/run installs every tool: missing means failing
 * with what to install, never a quiet skip.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { runProcess } from './run-process.ts';

export interface ToolSpec {
  /** The command name looked up on PATH. */
  name: string;
  /** What to install when it is missing (a Debian package, as .ci/run installs it). */
  install: string;
  /** Arguments that must exit 0 for this executable to be the one wanted (e.g. a version check). */
  probe?: { args: string[]; expect?: RegExp };
}

const executable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

async function passes(path: string, probe: ToolSpec['probe']): Promise<boolean> {
  if (!probe) return true;
  const result = await runProcess(path, probe.args, { timeoutMs: 30_000, check: false }).catch(
    () => undefined,
  );
  return result?.code === 0 && (probe.expect?.test(`${result.stdout}${result.stderr}`) ?? true);
}

/** The absolute path of the first `spec.name` on PATH that passes its probe; throws "install …" otherwise. */
export async function findTool(spec: ToolSpec, path = process.env.PATH ?? ''): Promise<string> {
  const tried: string[] = [];
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, spec.name);
    if (!(await executable(candidate))) continue;
    if (await passes(candidate, spec.probe)) return candidate;
    tried.push(candidate);
  }
  const rejected =
    tried.length > 0 ? ` (on PATH but failing \`${spec.probe?.args.join(' ')}\`: ${tried.join(', ')})` : '';
  throw new Error(`${spec.name} not found on PATH${rejected}: install ${spec.install} (see .ci/run)`);
}

/** The tools .ci/run installs, with what tells the right one apart. */
export const tools = {
  /** The AWS CLI v2 (Debian's awscli), which the client tests are written against; pyenv's v1 may come first. */
  aws: { name: 'aws', install: 'awscli', probe: { args: ['--version'], expect: /^aws-cli\/2\./ } },
  rclone: { name: 'rclone', install: 'rclone', probe: { args: ['version'] } },
  /** A Python 3 that has boto3 (Debian's python3-boto3). */
  python3: { name: 'python3', install: 'python3-boto3', probe: { args: ['-c', 'import boto3'] } },
  chromium: { name: 'chromium', install: 'chromium', probe: { args: ['--version'] } },
} satisfies Record<string, ToolSpec>;
