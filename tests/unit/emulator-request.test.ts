import { describe, expect, it } from '@jest/globals';
import { requestScope } from '../../local/emulator-request.ts';

describe('requestScope (local/emulator-request.ts)', () => {
  it('gives the value to calls made while the hook’s done runs, and nothing after it returns', () => {
    const scope = requestScope<string>();
    const seen: (string | undefined)[] = [];
    scope.run('PUT a', () => seen.push(scope.get()));
    seen.push(scope.get());
    expect(seen).toEqual(['PUT a', undefined]);
  });

  it('restores the outer value after a nested run, also when the inner one throws', () => {
    const scope = requestScope<number>();
    const seen: (number | undefined)[] = [];
    scope.run(1, () => {
      expect(() =>
        scope.run(2, () => {
          seen.push(scope.get());
          throw new Error('handler failed');
        }),
      ).toThrow('handler failed');
      seen.push(scope.get());
    });
    seen.push(scope.get());
    expect(seen).toEqual([2, 1, undefined]);
  });

  it('never hands a request’s value to work that continues after an await', async () => {
    const scope = requestScope<string>();
    let later: Promise<string | undefined> = Promise.resolve('not run');
    scope.run('PUT a', () => {
      later = (async () => {
        await null;
        return scope.get();
      })();
    });
    await expect(later).resolves.toBeUndefined();
  });
});
