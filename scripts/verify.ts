/**
 * `npm run verify -- --data '<JSON>'` (or `--path events/verify-prefix.json`, or nothing for the scheduled
 * run): the local equivalent of `sls invoke -f verify`. Runs the real verify handler against the running
 * local runtime and prints the JSON report on stdout and a one-line summary on stderr.
 *
 * Exit codes: 0 verified (drift or not: the report says); 1 bad payload, no runtime, or verify failed.
 */
import { prepareLocalInvoke } from '../local/invoke-cli.ts';
import { invokeHandler } from '../local/lambda-context.ts';

const { payload, env, context, fail } = await prepareLocalInvoke('verify', {
  defaultPayload: '{}',
  usage: `--data '<JSON>' or --path <file>`,
});
const { handler } = await import('../functions/verify.ts');

try {
  const report = await invokeHandler(handler, payload, context());
  const c = report.counts;
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(
    `verify: ok ${c.ok}, missing ${c.missing}, mismatched ${c.mismatched}, orphaned ${c.orphaned}, pending ${c.pending}; ` +
      `${report.repairsQueued} repair task(s) queued; pass ${report.pass.complete ? 'complete' : `${Math.round(report.pass.progress * 100)} % (resumes next run)`}; ` +
      `${report.requests.list} LIST, ${report.requests.head} HEAD in ${report.durationMs} ms; report s3://${env.S3DR_DR_BUCKET}/${report.reportKey}\n`,
  );
  process.exit(0);
} catch (error) {
  fail((error as Error).message);
}
