/**
 * The versioned-bucket contract (tests/helpers/versioned-store-contract.ts) against the in-memory fake that
 * the unit tests of restore, verify and replicate use: the same expectations run against the S3 adapter
 * over the local emulator in tests/integration/emulator-versioning.test.ts.
 */
import { beforeEach } from '@jest/globals';
import { type MemoryStore, MemoryWorld } from '../helpers/memory-store.ts';
import { versionedStoreContract } from '../helpers/versioned-store-contract.ts';

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryWorld().bucket('dr', { versioned: true });
});

versionedStoreContract('in-memory fake (tests/helpers/memory-store.ts)', () => ({ store }));
