/**
 * What IAM authorises for each SDK request s3-dr makes: the one table from an S3 or SQS command (and
 * its input and outcome) to the IAM actions and resource ARNs AWS checks, including the KMS calls S3
 * and SQS make with the caller's permissions when the data is encrypted with a KMS key.
 *
 * Sources, per row below:
 * - "Actions, resources, and condition keys for Amazon S3" (Service Authorization Reference,
 *   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) and
 *   "Required permissions for Amazon S3 API operations"
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html): which action
 *   each operation needs, on the bucket (`arn:aws:s3:::bucket`) or the object (`arn:aws:s3:::bucket/key`),
 *   and that an operation naming a `versionId` needs the `*Version*` action instead.
 * - HeadObject / GetObject API reference, "Permissions": a missing object answers 404 only with
 *   `s3:ListBucket` on the bucket, 403 otherwise — code that branches on "not found" needs ListBucket.
 * - GetObjectAttributes API reference, "Permissions": `s3:GetObject` + `s3:GetObjectAttributes`, or with a
 *   version id `s3:GetObjectVersion` + `s3:GetObjectVersionAttributes` (the current text: "If you pass a
 *   version ID in your request, you need both …; if you do not pass a version ID … s3:GetObject and
 *   s3:GetObjectAttributes", whether or not the bucket is versioned; older copies of the page said the
 *   bucket's versioning decided).
 * - GetObjectTagging / PutObjectTagging / DeleteObjectTagging API reference, "Permissions": the
 *   `s3:*ObjectTagging` action, or for a `versionId` the `s3:*ObjectVersionTagging` one.
 * - CopyObject API reference, "Permissions": read on the source (its version when `?versionId=`), write
 *   on the target; copying the tag set (`x-amz-tagging-directive: COPY`, the default) reads the source's
 *   tags and writes them, so `s3:GetObject[Version]Tagging` on the source and `s3:PutObjectTagging` on
 *   the target; `x-amz-tagging` with REPLACE (or on PutObject / CreateMultipartUpload) needs
 *   `s3:PutObjectTagging`.
 * - "Using server-side encryption with AWS KMS keys (SSE-KMS)", Permissions, and "Multipart upload API and
 *   permissions" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions):
 *   writing an object encrypted with a KMS key needs `kms:GenerateDataKey`, reading it `kms:Decrypt`, and
 *   a multipart upload also `kms:Decrypt` (S3 reads the encrypted parts to complete it). HEAD and
 *   GetObjectAttributes read no data: no KMS call.
 * - Amazon SQS Developer Guide, "Amazon SQS key management" (sqs-key-management): a producer of an SSE-KMS
 *   queue needs `kms:GenerateDataKey` and `kms:Decrypt`, a consumer `kms:Decrypt`. SendMessageBatch is
 *   authorised as `sqs:SendMessage` ("Actions, resources, and condition keys for Amazon SQS").
 */

/** One SDK request a function made, as the recorder saw it. */
export interface RecordedCall {
  /** The function (handler) that made it. */
  fn: string;
  service: 's3' | 'sqs';
  /** Operation name without `Command`, e.g. `CopyObject`. */
  operation: string;
  input: Record<string, unknown>;
  /** Name of the error it failed with, if it did (e.g. `NotFound`, `NoSuchKey`). */
  error?: string;
  /** Made by this stack's function only (a verify job's runs: only the primary has verify). */
  stack?: 'primary' | 'dr';
}

/** One authorisation AWS performs for a request, with the caller's credentials. */
export interface Requirement {
  action: string;
  /** Full ARN. */
  resource: string;
  /** Why this request needs it (for failure messages). */
  because: string;
  /** Request-derived condition keys (e.g. `s3:versionid`). */
  context?: Record<string, string>;
}

/** Which KMS key encrypts what: bucket defaults, and queues with SSE-KMS. */
export interface EncryptionWorld {
  /** The KMS key a bucket's objects are encrypted with (its default encryption), if SSE-KMS. */
  bucketKey(bucket: string): string | undefined;
  /** The KMS key of a queue (by ARN), if SSE-KMS. */
  queueKey(queueArn: string): string | undefined;
  region: { s3(bucket: string): string; sqs(queueArn: string): string };
}

const NOT_FOUND = new Set(['NotFound', 'NoSuchKey', 'NoSuchVersion']);

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`;
const objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;

/** `bucket/url-encoded-key[?versionId=…]`, as CopySource carries it. */
export function parseCopySource(value: string): { bucket: string; key: string; versionId?: string } {
  const [path = '', query] = value.replace(/^\//, '').split('?');
  const slash = path.indexOf('/');
  const versionId = query ? (new URLSearchParams(query).get('versionId') ?? undefined) : undefined;
  return {
    bucket: path.slice(0, slash),
    key: decodeURIComponent(path.slice(slash + 1)),
    ...(versionId ? { versionId } : {}),
  };
}

/** `https://sqs.<region>.amazonaws.com/<account>/<name>` → `arn:aws:sqs:<region>:<account>:<name>`. */
export function queueArnOf(queueUrl: string): string {
  const m = /^https?:\/\/sqs\.([a-z0-9-]+)\.[^/]+\/(\d{12})\/([^/?]+)$/.exec(queueUrl);
  if (!m) throw new Error(`not an SQS queue URL: ${queueUrl}`);
  return `arn:aws:sqs:${m[1]}:${m[2]}:${m[3]}`;
}

/** The permissions one recorded request needs. Throws for an operation the table does not know. */
export function requiredPermissions(call: RecordedCall, world: EncryptionWorld): Requirement[] {
  const out: Requirement[] = [];
  const i = call.input;
  const need = (action: string, resource: string, because: string, context?: Record<string, string>) =>
    out.push({ action, resource, because, ...(context ? { context } : {}) });
  const what = `${call.operation}`;

  if (call.service === 'sqs') {
    const queueUrl = str(i.QueueUrl);
    if (!queueUrl) throw new Error(`${what} without QueueUrl`);
    const queue = queueArnOf(queueUrl);
    const key = world.queueKey(queue);
    const sqsAction: Record<string, string> = {
      SendMessage: 'sqs:SendMessage',
      SendMessageBatch: 'sqs:SendMessage',
      ReceiveMessage: 'sqs:ReceiveMessage',
      DeleteMessage: 'sqs:DeleteMessage',
      DeleteMessageBatch: 'sqs:DeleteMessage',
      GetQueueAttributes: 'sqs:GetQueueAttributes',
      ChangeMessageVisibility: 'sqs:ChangeMessageVisibility',
      ChangeMessageVisibilityBatch: 'sqs:ChangeMessageVisibility',
    };
    const action = sqsAction[call.operation];
    if (!action)
      throw new Error(`no IAM mapping for SQS ${call.operation}: add it to tests/helpers/iam-actions.ts`);
    need(action, queue, what);
    if (key && action === 'sqs:SendMessage') {
      const via = { 'kms:ViaService': `sqs.${world.region.sqs(queue)}.amazonaws.com` };
      need('kms:GenerateDataKey', key, `${what} to an SSE-KMS queue`, via);
      need('kms:Decrypt', key, `${what} to an SSE-KMS queue`, via);
    }
    if (key && action === 'sqs:ReceiveMessage') {
      need('kms:Decrypt', key, `${what} from an SSE-KMS queue`, {
        'kms:ViaService': `sqs.${world.region.sqs(queue)}.amazonaws.com`,
      });
    }
    return out;
  }

  const bucket = str(i.Bucket);
  if (!bucket) throw new Error(`${what} without Bucket`);
  const key = str(i.Key);
  const versionId = str(i.VersionId);
  const obj = () => {
    if (key === undefined) throw new Error(`${what} without Key`);
    return objectArn(bucket, key);
  };
  const versioned = (plain: string, version: string) => (versionId ? version : plain);
  const vctx = versionId ? { 's3:versionid': versionId } : undefined;
  const missing = call.error !== undefined && NOT_FOUND.has(call.error);
  const kmsFor = (b: string, explicit?: string) => explicit ?? world.bucketKey(b);
  const via = (b: string) => ({ 'kms:ViaService': `s3.${world.region.s3(b)}.amazonaws.com` });
  const decrypt = (b: string, because: string) => {
    const k = kmsFor(b);
    if (k) need('kms:Decrypt', k, because, via(b));
  };
  const generate = (b: string, explicit: string | undefined, because: string) => {
    const k = kmsFor(b, explicit);
    if (k) need('kms:GenerateDataKey', k, because, via(b));
    return k;
  };
  const explicitKey = str(i.SSEKMSKeyId);
  const listForNotFound = (b: string) => {
    if (missing) need('s3:ListBucket', bucketArn(b), `${what} of a missing object answers 404, not 403`);
  };

  switch (call.operation) {
    case 'HeadObject':
      need(versioned('s3:GetObject', 's3:GetObjectVersion'), obj(), what, vctx);
      listForNotFound(bucket);
      break;
    case 'GetObject':
      need(versioned('s3:GetObject', 's3:GetObjectVersion'), obj(), what, vctx);
      listForNotFound(bucket);
      if (!missing) decrypt(bucket, `${what} of an SSE-KMS object`);
      break;
    case 'GetObjectAttributes':
      need(versioned('s3:GetObject', 's3:GetObjectVersion'), obj(), what, vctx);
      need(versioned('s3:GetObjectAttributes', 's3:GetObjectVersionAttributes'), obj(), what, vctx);
      listForNotFound(bucket);
      break;
    case 'GetObjectTagging':
      need(versioned('s3:GetObjectTagging', 's3:GetObjectVersionTagging'), obj(), what, vctx);
      break;
    case 'PutObjectTagging':
      need(versioned('s3:PutObjectTagging', 's3:PutObjectVersionTagging'), obj(), what, vctx);
      break;
    // DeleteObjectTagging API reference: "you must have permission to perform the s3:DeleteObjectTagging
    // action. To delete tags of a specific object version, add the versionId query parameter ... You will
    // need permission for the s3:DeleteObjectVersionTagging action."
    case 'DeleteObjectTagging':
      need(versioned('s3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging'), obj(), what, vctx);
      break;
    case 'PutObject':
      need('s3:PutObject', obj(), what);
      if (i.Tagging) need('s3:PutObjectTagging', obj(), `${what} with x-amz-tagging`);
      generate(bucket, explicitKey, `${what} of an SSE-KMS object`);
      break;
    case 'DeleteObject':
      need(versioned('s3:DeleteObject', 's3:DeleteObjectVersion'), obj(), what, vctx);
      break;
    case 'RestoreObject':
      need('s3:RestoreObject', obj(), what, vctx);
      break;
    case 'CopyObject':
    case 'UploadPartCopy': {
      const src = parseCopySource(str(i.CopySource) ?? '');
      const srcArn = objectArn(src.bucket, src.key);
      const sctx = src.versionId ? { 's3:versionid': src.versionId } : undefined;
      need(src.versionId ? 's3:GetObjectVersion' : 's3:GetObject', srcArn, `${what} reads the source`, sctx);
      if (missing) {
        need('s3:ListBucket', bucketArn(src.bucket), `${what} of a missing source answers 404, not 403`);
      }
      need('s3:PutObject', obj(), `${what} writes the target`);
      if (call.operation === 'CopyObject') {
        const directive = str(i.TaggingDirective) ?? 'COPY';
        if (directive === 'COPY') {
          need(
            src.versionId ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging',
            srcArn,
            `${what} with TaggingDirective COPY reads the source's tags`,
            sctx,
          );
          need('s3:PutObjectTagging', obj(), `${what} with TaggingDirective COPY writes them`);
        } else if (i.Tagging) {
          need('s3:PutObjectTagging', obj(), `${what} with x-amz-tagging`);
        }
      }
      if (!missing) decrypt(src.bucket, `${what} from an SSE-KMS source`);
      // An UploadPartCopy's part is encrypted with the upload's key: the target bucket's, or the one the
      // upload was created with (that request is checked on its own).
      generate(bucket, explicitKey, `${what} into an SSE-KMS target`);
      break;
    }
    case 'CreateMultipartUpload':
      need('s3:PutObject', obj(), what);
      if (i.Tagging) need('s3:PutObjectTagging', obj(), `${what} with x-amz-tagging`);
      generate(bucket, explicitKey, `${what} of an SSE-KMS object`);
      break;
    case 'CompleteMultipartUpload': {
      need('s3:PutObject', obj(), what);
      const k = kmsFor(bucket);
      if (k) need('kms:Decrypt', k, `${what} reads the SSE-KMS parts`, via(bucket));
      break;
    }
    case 'AbortMultipartUpload':
      need('s3:AbortMultipartUpload', obj(), what);
      break;
    case 'ListParts':
      need('s3:ListMultipartUploadParts', obj(), what);
      break;
    case 'ListMultipartUploads':
      need('s3:ListBucketMultipartUploads', bucketArn(bucket), what);
      break;
    case 'ListObjectsV2':
      need('s3:ListBucket', bucketArn(bucket), what);
      break;
    case 'ListObjectVersions':
      need('s3:ListBucketVersions', bucketArn(bucket), what);
      break;
    case 'GetBucketVersioning':
      need('s3:GetBucketVersioning', bucketArn(bucket), what);
      break;
    default:
      throw new Error(`no IAM mapping for S3 ${call.operation}: add it to tests/helpers/iam-actions.ts`);
  }
  return out;
}
