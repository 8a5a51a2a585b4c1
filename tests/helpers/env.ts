// Default configuration for tests: set before any handler module is imported (handlers read it at load).
const defaults: Record<string, string> = {
  S3DR_SOURCE_BUCKETS: 'source-bucket',
  S3DR_SOURCE_REGION: 'eu-west-1',
  S3DR_DR_BUCKET: 'dr-bucket',
  S3DR_DR_REGION: 'eu-central-1',
  S3DR_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/s3-dr-test-replication',
  S3DR_MULTIPART_THRESHOLD: String(5 * 1024 * 1024),
  S3DR_PART_SIZE: String(5 * 1024 * 1024),
  S3DR_SAFETY_MARGIN_MS: '1000',
  S3DR_MAX_ATTEMPTS: '1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
};
for (const [name, value] of Object.entries(defaults)) process.env[name] ??= value;
