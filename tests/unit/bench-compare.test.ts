import { describe, expect, it } from '@jest/globals';
import { compareFigures, extractFigures, type Figure, median } from '../../bench/compare-results.ts';

const fig = (name: string, value: number, better: Figure['better'] = 'lower'): Figure => ({
  name,
  value,
  better,
});

/** A cold.json as bench/cold.ts writes it. */
const cold = (calibrationMs: number, initMs: number, zippedKB = 300, load = 0.5) => ({
  machine: { cpus: 2, node: 'v22.23.3', loadAverageAtStart: [load, load, load] },
  runs: 7,
  calibrationMs,
  functions: { ingest: { initMs, initMsRuns: [initMs], zippedKB, unzippedKB: 900, bundleKB: 400 } },
});

/** A bench.json run as bench/peers.ts writes it. */
const benchRun = (ours: number, rclone: number, aws: number, oneChange = 1) => ({
  ours: { objectsPerSecond: ours, s3RequestsPerObject: 1 },
  peers: [
    { tool: 'rclone sync --transfers 32', objectsPerSecond: rclone },
    { tool: 'aws s3 sync', objectsPerSecond: aws },
  ],
  oneChange: { total: oneChange },
  atRate: { lagP99Ms: 27 },
});

const regressed = (recorded: Figure[], fresh: Figure[]) =>
  compareFigures(recorded, fresh)
    .filter((c) => c.regressed)
    .map((c) => c.name);

describe('bench:compare — comparing a fresh run with the recorded one', () => {
  it('flags a lower-is-better figure more than 10 % worse, and not one 9 % worse', () => {
    expect(regressed([fig('a', 100), fig('b', 100)], [fig('a', 111), fig('b', 109)])).toEqual(['a']);
  });

  it('flags a higher-is-better figure that dropped by more than 10 %, and not one that rose', () => {
    const recorded = [fig('up', 100, 'higher'), fig('down', 100, 'higher')];
    // 100 / 90 = 1.11: worse by 11 %.
    const fresh = [fig('up', 150, 'higher'), fig('down', 90, 'higher')];
    expect(regressed(recorded, fresh)).toEqual(['down']);
  });

  it('reports how much worse or better each figure is', () => {
    const [c] = compareFigures([fig('a', 200)], [fig('a', 150)]);
    expect(c).toMatchObject({ recorded: 200, fresh: 150, worseBy: 0.75, regressed: false });
  });

  it('treats a count that grew from zero as infinitely worse', () => {
    expect(regressed([fig('heads', 0)], [fig('heads', 1)])).toEqual(['heads']);
    expect(regressed([fig('heads', 0)], [fig('heads', 0)])).toEqual([]);
  });

  it('lists a figure found on one side only without judging it', () => {
    const comparisons = compareFigures([fig('gone', 1)], [fig('new', 1)]);
    expect(comparisons).toEqual([
      { name: 'new', better: 'lower', fresh: 1, regressed: false },
      { name: 'gone', better: 'lower', recorded: 1, regressed: false },
    ]);
  });

  it('judges cold starts against the calibration of the same run: a slower machine is no regression', () => {
    const recorded = extractFigures('cold', cold(50, 100));
    // Everything twice as slow (a busier machine): same ratio.
    expect(regressed(recorded, extractFigures('cold', cold(100, 200)))).toEqual([]);
    // s3-dr alone 20 % slower on the same machine: a regression.
    expect(regressed(recorded, extractFigures('cold', cold(50, 120)))).toEqual([
      'ingest: init ÷ calibration',
    ]);
  });

  it('does not judge init times measured on a busy machine, but still judges sizes', () => {
    const recorded = extractFigures('cold', cold(50, 100, 300));
    const comparisons = compareFigures(recorded, extractFigures('cold', cold(50, 200, 340, 5.5)));
    expect(comparisons.filter((c) => c.regressed).map((c) => c.name)).toEqual(['ingest: zipped KB']);
    expect(comparisons.find((c) => c.name === 'ingest: init ÷ calibration')).toMatchObject({
      worseBy: 2,
      regressed: false,
      notJudged: 'not judged: fresh measured at load 5.5 on 2 CPUs',
    });
  });

  it('reads a cold.json with floor figures (bench/cold-floor.ts) as one without: the same figures', () => {
    const withFloor = cold(50, 100);
    const floor = {
      clients: ['sqs'],
      batch: false,
      initMs: 90,
      initMsRuns: [90],
      cpuMs: 80,
      cpuMsRuns: [80],
      bundleKB: 230,
    };
    Object.assign(withFloor.functions.ingest, { floor, oursMs: 10, oursCpuMs: 5 });
    const recorded = extractFigures('cold', cold(50, 100));
    expect(extractFigures('cold', withFloor)).toEqual(recorded);
    expect(regressed(recorded, extractFigures('cold', withFloor))).toEqual([]);
  });

  it('judges bundle sizes as they are (they do not depend on the machine)', () => {
    const recorded = extractFigures('cold', cold(50, 100, 300));
    expect(regressed(recorded, extractFigures('cold', cold(50, 100, 340)))).toEqual(['ingest: zipped KB']);
  });

  it('judges s3-dr throughput as a ratio to the peers of the same run', () => {
    const recorded = extractFigures('bench', { runs: [benchRun(800, 2400, 320)] });
    // The whole machine 40 % slower: every tool slower alike, no regression.
    expect(regressed(recorded, extractFigures('bench', { runs: [benchRun(480, 1440, 192)] }))).toEqual([]);
    // s3-dr alone 25 % slower: flagged against both peers.
    expect(regressed(recorded, extractFigures('bench', { runs: [benchRun(600, 2400, 320)] }))).toEqual([
      'objects/s ÷ rclone sync --transfers 32',
      'objects/s ÷ aws s3 sync',
    ]);
  });

  it("judges s3-dr's CPU per object against the writer's of the same run, and DR complete against write, then rclone", () => {
    const run = (oursCpu: number, writerCpu: number, endToEnd: number, write: number, rclone: number) => ({
      ...benchRun(800, 2400, 320),
      ours: {
        objectsPerSecond: 800,
        s3RequestsPerObject: 1,
        endToEndSeconds: endToEnd,
        cpuMsPerObject: { ours: oursCpu, emulator: 0.8, writer: writerCpu },
      },
      peers: [{ tool: 'rclone sync --transfers 32', objectsPerSecond: 2400, seconds: rclone }],
      peerWrite: { seconds: write },
    });
    const recorded = extractFigures('bench', { runs: [run(1.5, 0.4, 10, 5, 4)] });
    expect(recorded.find((f) => f.name === 'write, then rclone sync ÷ s3-dr end to end')?.value).toBe(0.9);
    // A machine twice as slow: every process's CPU and every time doubles alike; no regression.
    expect(regressed(recorded, extractFigures('bench', { runs: [run(3, 0.8, 20, 10, 8)] }))).toEqual([]);
    // s3-dr's own CPU per object 20 % higher, and DR complete 20 % later.
    expect(regressed(recorded, extractFigures('bench', { runs: [run(1.8, 0.4, 12, 5, 4)] }))).toEqual([
      "CPU per object ÷ the writer's",
      'write, then rclone sync ÷ s3-dr end to end',
    ]);
  });

  it("judges s3-dr's write → DR complete against the floor's of the same run (the SDK's copies alone)", () => {
    const run = (endToEnd: number, floorEndToEnd: number) => ({
      ...benchRun(800, 2400, 320),
      ours: { objectsPerSecond: 800, s3RequestsPerObject: 1, endToEndSeconds: endToEnd },
      floor: { endToEndSeconds: floorEndToEnd },
    });
    const recorded = extractFigures('bench', { runs: [run(12, 8)] });
    expect(recorded.find((f) => f.name === 's3-dr end to end ÷ floor (SDK CopyObject alone)')?.value).toBe(
      1.5,
    );
    // Both slower alike: no regression; s3-dr alone 20 % slower: flagged.
    expect(regressed(recorded, extractFigures('bench', { runs: [run(18, 12)] }))).toEqual([]);
    expect(regressed(recorded, extractFigures('bench', { runs: [run(14.4, 8)] }))).toEqual([
      's3-dr end to end ÷ floor (SDK CopyObject alone)',
    ]);
  });

  it('takes the median over the runs of one bench.json', () => {
    const figures = extractFigures('bench', {
      runs: [benchRun(800, 1000, 400), benchRun(900, 1000, 400), benchRun(100, 1000, 400)],
    });
    expect(figures.find((f) => f.name === 'objects/s ÷ rclone sync --transfers 32')?.value).toBe(0.8);
  });

  it('compares the request count of one change as it is', () => {
    const recorded = extractFigures('bench', { runs: [benchRun(800, 2400, 320, 1)] });
    expect(regressed(recorded, extractFigures('bench', { runs: [benchRun(800, 2400, 320, 2)] }))).toEqual([
      '1 change: s3-dr S3 requests',
    ]);
  });

  it('judges the verifier pass as a ratio to rclone check of the same run', () => {
    const size = (verifyPassMs: number, rcloneCheckMs: number) => ({
      sizes: [{ n: 10000, verifyPassMs, rcloneCheckMs, heads: 100, listPerBucket: 11.5 }],
    });
    const recorded = extractFigures('verify', size(700, 600));
    expect(regressed(recorded, extractFigures('verify', size(1400, 1200)))).toEqual([]);
    expect(regressed(recorded, extractFigures('verify', size(800, 600)))).toEqual([
      'N=10000: verify pass ÷ rclone check',
    ]);
  });

  it('judges the verifier against the floor of the same rounds (the SDK listings alone), when there is one', () => {
    const size = (verifierOverFloorMedian?: number) => ({
      sizes: [
        {
          n: 10000,
          verifyPassMs: 700,
          rcloneCheckMs: 600,
          ...(verifierOverFloorMedian === undefined ? {} : { floor: { verifierOverFloorMedian } }),
        },
      ],
    });
    const recorded = extractFigures('verify', size(1.2));
    expect(recorded.find((f) => f.name.includes('floor'))?.value).toBe(1.2);
    expect(regressed(recorded, extractFigures('verify', size(1.25)))).toEqual([]);
    expect(regressed(recorded, extractFigures('verify', size(1.4)))).toEqual([
      'N=10000: verify pass ÷ floor (SDK listings alone)',
    ]);
    // An older result without a floor is still read; the figure is on one side only.
    expect(extractFigures('verify', size()).some((f) => f.name.includes('floor'))).toBe(false);
  });

  it('judges the flat layout apart from the grid layout of the same N', () => {
    const sizes = (flatVerifyMs: number) => ({
      sizes: [
        { n: 100000, layout: 'grid', verifyPassMs: 4000, rcloneCheckMs: 6000 },
        { n: 100000, layout: 'flat', verifyPassMs: flatVerifyMs, rcloneCheckMs: 6000 },
      ],
    });
    const recorded = extractFigures('verify', sizes(4000));
    expect(regressed(recorded, extractFigures('verify', sizes(5000)))).toEqual([
      'N=100000 flat: verify pass ÷ rclone check',
    ]);
  });

  it('reads the figures of the recorded results files', async () => {
    const { readFile } = await import('node:fs/promises');
    for (const name of ['bench', 'replicate', 'verify', 'restore', 'cold'] as const) {
      const results = JSON.parse(
        await readFile(new URL(`../../bench/results/${name}.json`, import.meta.url), 'utf8'),
      );
      expect(extractFigures(name, results).length).toBeGreaterThan(0);
    }
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow('median of no values');
  });
});
