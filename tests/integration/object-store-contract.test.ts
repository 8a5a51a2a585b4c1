/**
 * The ObjectStore contract (tests/helpers/object-store-contract.ts) against the S3 adapter
 * (lib/aws/s3-object-store.ts) over the local emulator, which behaves like S3; the same expectations run
 * against the in-memory fake in tests/unit/object-store-contract.test.ts.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.ts';
import { objectStoreContract } from '../helpers/object-store-contract.ts';

let local: TestEmulator;

beforeAll(async () => {
  local = await startTestEmulator({ buckets: ['contract-dr', 'contract-source'] });
}, 30_000);

afterAll(async () => {
  await local?.stop();
});

objectStoreContract('S3 adapter over the local emulator', () => ({
  store: new S3ObjectStore(local.s3, 'contract-dr'),
  source: new S3ObjectStore(local.s3, 'contract-source'),
}));
