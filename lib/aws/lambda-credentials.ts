/**
 * The credential provider the Lambda bundles use in place of the SDK's default chain
 * (`@aws-sdk/credential-provider-node`): scripts/esbuild-plugins.cjs points that import here when
 * `sls package` (or `sls invoke local`) bundles a function. Tests, `npm start` and scripts run the
 * sources and keep the whole chain.
 *
 * Why it is the same credentials: the Lambda runtime hands a function its execution role's credentials
 * as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (AWS Lambda Developer Guide,
 * "Working with Lambda environment variables", Defined runtime environment variables:
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
 * and `sls invoke local` injects the credentials it resolved the same way. The default chain's first
 * provider is this very `fromEnv`, which answers in both places. The rest of the chain (profiles, SSO,
 * web identity, the STS/SSO/sign-in clients those need, IMDS) was a fifth of every bundle, compiled at
 * every cold start and never run (docs/performance.md#cold-starts).
 */
import { type FromEnvInit, fromEnv } from '@aws-sdk/credential-provider-env';

/** Same name and call shape as `@aws-sdk/credential-provider-node`'s export, which clients call. */
export const defaultProvider = (init?: FromEnvInit) => fromEnv(init);
