import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, { version?: string }>;
};

describe('dependency hygiene', () => {
  it('keeps every Powertools package on one version, so one copy of their shared commons is bundled', () => {
    const declared = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(([name]) =>
      name.startsWith('@aws-lambda-powertools/'),
    );
    expect(declared.length).toBeGreaterThan(0);
    expect(new Set(declared.map(([, version]) => version)).size).toBe(1);
    const installed = Object.entries(lock.packages)
      .filter(([path]) => path.includes('node_modules/@aws-lambda-powertools/'))
      .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')}@${entry.version}`);
    expect(new Set(installed.map((p) => p.split('@').at(-1))).size).toBe(1);
  });

  it('pins every dependency to an exact version (the lock file is committed; upgrades come as reviewed PRs)', () => {
    const ranges = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(
      ([, version]) => !/^\d+\.\d+\.\d+$/.test(version),
    );
    expect(ranges).toEqual([]);
  });
});
