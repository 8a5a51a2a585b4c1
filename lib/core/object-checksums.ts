/** Full-object checksum algorithms, strongest first. */
export const CHECKSUM_ALGORITHMS = ['SHA256', 'SHA1', 'CRC64NVME', 'CRC32C', 'CRC32'] as const;

export type ChecksumVerdict =
  | { kind: 'same'; algorithm: string }
  | { kind: 'different'; algorithm: string }
  | { kind: 'incomparable' };

/**
 * Compares two objects' checksums as S3 reports them (GetObjectAttributes `Checksum`, see
 * `ObjectStore.checksums`). S3 computes them over the plaintext, so they compare content across
 * encryption types, where ETags cannot ("Checking object integrity in Amazon S3", Amazon S3 User Guide).
 * Only checksums of the same algorithm and the same type decide; a composite (per-part) checksum decides
 * only against one of the same part count, since the part layout enters its value.
 */
export function compareChecksums(a: Record<string, string>, b: Record<string, string>): ChecksumVerdict {
  if (a.Type !== b.Type) return { kind: 'incomparable' };
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const x = a[algorithm];
    const y = b[algorithm];
    if (x === undefined || y === undefined) continue;
    if (a.Type === 'COMPOSITE' && x.split('-')[1] !== y.split('-')[1]) return { kind: 'incomparable' };
    return { kind: x === y ? 'same' : 'different', algorithm };
  }
  return { kind: 'incomparable' };
}
