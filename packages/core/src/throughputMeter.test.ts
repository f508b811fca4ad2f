import { describe, expect, it } from 'vitest';
import { ThroughputMeter } from './throughputMeter.ts';

describe('ThroughputMeter', () => {
  it('has no rate before a job completed', () => {
    const meter = new ThroughputMeter();
    meter.begin(0);
    meter.end(false, 500);
    expect(meter.rate(1000)).toBeNull();
  });

  it('counts completions per second of busy time, not of wall time', () => {
    const meter = new ThroughputMeter(60_000);
    // 10 jobs over 2 s of work, then 20 s idle.
    for (let i = 0; i < 10; i++) meter.begin(1000);
    for (let i = 0; i < 10; i++) meter.end(true, 1000 + 200 * (i + 1));
    expect(meter.rate(23_000)).toBeCloseTo(5, 5);
  });

  it('counts busy time that has not ended yet', () => {
    const meter = new ThroughputMeter(60_000);
    meter.begin(0);
    meter.begin(0);
    meter.end(true, 2000);
    // One still held at 4 s: 4 s busy, one completion.
    expect(meter.rate(4000)).toBeCloseTo(0.25, 5);
  });

  it('forgets what is older than its window', () => {
    const meter = new ThroughputMeter(10_000);
    meter.begin(0);
    meter.end(true, 1000);
    expect(meter.rate(5000)).not.toBeNull();
    expect(meter.rate(20_000)).toBeNull();
  });
});
