import { describe, expect, it } from '@jest/globals';
import { summarise } from '../../bench/profile-summary.ts';

const nm = 'file:///work/s3-dr/node_modules';
/** A V8 CPU profile (node --cpu-prof) in its JSON shape: a call tree, samples by node id, µs between samples. */
const profile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [2, 3, 4, 7, 8] },
    { id: 2, callFrame: { functionName: '(idle)', url: '' } },
    {
      id: 3,
      callFrame: { functionName: 'signRequest', url: `${nm}/@smithy/signature-v4/dist-cjs/index.js` },
    },
    {
      id: 4,
      callFrame: { functionName: 'compileSourceTextModule', url: 'node:internal/modules/esm/utils' },
      children: [5],
    },
    // SDK code run while a module loads is start-up, not a request's cost.
    { id: 5, callFrame: { functionName: '', url: `${nm}/@smithy/core/dist-cjs/submodules/schema/index.js` } },
    { id: 6, callFrame: { functionName: 'writev', url: '' } },
    { id: 7, callFrame: { functionName: 'socketWrite', url: 'node:net' }, children: [6] },
    {
      id: 8,
      callFrame: {
        functionName: 'addMetric',
        url: `${nm}/@aws-lambda-powertools/metrics/lib/esm/Metrics.js`,
      },
    },
  ],
  samples: [2, 3, 3, 5, 6, 7, 8, 2],
  timeDeltas: [1000, 2000, 2000, 500, 3000, 1000, 250, 1000],
};

describe('bench/profile-summary.ts', () => {
  it("sums each sample's self time into its category, start-up told apart by the stack", () => {
    const ms = summarise(profile);
    expect(Object.fromEntries(ms)).toEqual({
      idle: 2,
      'SDK: SigV4 signing (signature-v4, node crypto)': 4,
      'start-up: loading and compiling modules': 0.5,
      "Node's HTTP client, sockets, streams (socket writes included)": 4,
      'Powertools (logger, metrics, batch)': 0.25,
    });
  });
});
