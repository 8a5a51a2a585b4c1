/**
 * The ObjectStore contract (tests/helpers/object-store-contract.ts) against the in-memory fake that the
 * domain's unit tests use; the same expectations run against the S3 adapter over the local emulator in
 * tests/integration/object-store-contract.test.ts.
 */
import { beforeEach } from '@jest/globals';
import { type MemoryStore, MemoryWorld } from '../helpers/memory-store.ts';
import { objectStoreContract } from '../helpers/object-store-contract.ts';

let store: MemoryStore;
let source: MemoryStore;
beforeEach(() => {
  const world = new MemoryWorld();
  store = world.bucket('dr');
  source = world.bucket('source');
});

objectStoreContract('in-memory fake (tests/helpers/memory-store.ts)', () => ({ store, source }));
