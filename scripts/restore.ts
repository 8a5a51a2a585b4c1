/**
 * `npm run restore -- --data '<JSON>'` (or `--path events/restore-prefix.json`): the local equivalent of
 * `sls invoke -f restore`. Runs the real restore handler against the running local runtime and prints
 * the JSON report on stdout and its one-line summary on stderr.
 *
 * Exit codes: 0 done (or planned); 1 bad payload, refused request or no runtime; 3 some keys failed.
 * Restore settings may be overridden from the shell for local experiments, e.g.
 * `S3DR_RESTORE_TARGETS=my-copy npm run restore -- --data '…'`.
 */
import { prepareLocalInvoke } from '../local/invoke-cli.ts';
import { invokeHandler } from '../local/lambda-context.ts';

const { payload, context, fail } = await prepareLocalInvoke('restore', {
  usage: `--data '<JSON>' or --path <file>, e.g. npm run restore -- --data '{"prefix":"photos/"}'`,
});
const { handler } = await import('../functions/restore.ts');
const { InvalidPayloadError, RestoreRefusedError } = await import('../lib/errors.ts');

try {
  const report = await invokeHandler(handler, payload, context());
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`${report.summary}\n`);
  process.exit((report.results?.failed.objects ?? 0) > 0 ? 3 : 0);
} catch (error) {
  if (error instanceof InvalidPayloadError || error instanceof RestoreRefusedError) fail(error.message);
  throw error;
}
