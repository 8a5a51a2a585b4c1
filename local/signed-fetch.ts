/**
 * Raw HTTP requests to the local endpoint, signed with the SDK's own SigV4 signer — for tools that need
 * the wire format itself (the benchmark's load writer, tests of the emulator's XML) without a whole SDK
 * client. The emulator refuses unsigned requests, as S3 does for a private bucket; any credentials sign
 * validly enough locally.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

/** What the signer hands its hash: text or bytes in any of JavaScript's shapes. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const asBytes = (data: SourceData): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** SHA-256 (or its HMAC, given a secret) in the shape the signer takes. */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', asBytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(asBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

/** A SigV4 signer for S3 with the local runtime's dummy credentials. */
export function localSigner(region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({
    service: 's3',
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    sha256: Sha256,
    uriEscapePath: false,
  });
}

/**
 * Headers that sign one request (payload unsigned, as S3 allows): `path` as sent on the wire (already
 * URI-encoded), `query` decoded.
 */
export async function signedHeaders(
  signer: SignatureV4,
  request: { method: string; url: URL; headers?: Record<string, string> },
): Promise<Record<string, string>> {
  const query: Record<string, string> = {};
  for (const [k, v] of request.url.searchParams) query[k] = v;
  const signed = await signer.sign({
    method: request.method,
    protocol: request.url.protocol,
    hostname: request.url.hostname,
    port: Number(request.url.port),
    path: request.url.pathname,
    query,
    headers: {
      host: request.url.host,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      ...request.headers,
    },
  });
  return signed.headers as Record<string, string>;
}

/** `fetch` of a GET, signed. */
export async function signedGet(url: string): Promise<Response> {
  const target = new URL(url);
  return fetch(target, { headers: await signedHeaders(localSigner(), { method: 'GET', url: target }) });
}
