/**
 * The environment a packaged bundle needs to load against a local endpoint (`endpoint`): a minimal
 * valid configuration, one attempt per request. Tests add credentials and whatever they study.
 */
export function bundleEnv(endpoint: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'eu-west-1',
    S3DR_SOURCE_BUCKETS: 'source-bucket',
    S3DR_SOURCE_REGION: 'eu-west-1',
    S3DR_DR_BUCKET: 'dr-bucket',
    S3DR_DR_REGION: 'eu-central-1',
    S3DR_ENDPOINT_URL: endpoint,
    S3DR_FORCE_PATH_STYLE: 'true',
    S3DR_MAX_ATTEMPTS: '1',
  };
}
