import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/groupCommit.ts';

/** A run whose groups are recorded and finish only when the test says so. */
function heldRuns() {
  const groups: number[][] = [];
  const finishers: Array<() => void> = [];
  const run = async (items: number[]) => {
    groups.push(items);
    await new Promise<void>((resolve) => finishers.push(resolve));
    return items.map((item) => item * 10);
  };
  return { groups, finishers, run };
}

describe('GroupCommit', () => {
  it('starts a lone item at once, and gathers the items that arrive meanwhile into the next group', async () => {
    const { groups, finishers, run } = heldRuns();
    const commit = new GroupCommit({ run });
    const first = commit.submit(1);
    expect(groups).toEqual([[1]]);
    const rest = [2, 3, 4].map((item) => commit.submit(item));
    expect(commit.waiting).toBe(3);
    finishers.shift()!();
    expect(await first).toBe(10);
    await Promise.resolve();
    expect(groups).toEqual([[1], [2, 3, 4]]);
    finishers.shift()!();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it('caps a group at maxGroupSize and runs `concurrency` groups at once', async () => {
    const { groups, finishers, run } = heldRuns();
    const commit = new GroupCommit({ run, maxGroupSize: 2, concurrency: 2 });
    const all = commit.submitAll([1, 2, 3, 4, 5]);
    expect(groups).toEqual([
      [1, 2],
      [3, 4],
    ]);
    finishers.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(groups).toEqual([[1, 2], [3, 4], [5]]);
    while (finishers.length > 0) finishers.shift()!();
    expect(await all).toEqual([10, 20, 30, 40, 50]);
  });

  it("never writes one owner's items in two groups at once, so another owner's item need not wait behind them", async () => {
    const { groups, finishers, run } = heldRuns();
    // Items below 10 are one user's flood, the others another user's.
    const commit = new GroupCommit({ run, concurrency: 2, ownerOf: (item: number) => (item < 10 ? 'flood' : 'other') });
    const flood = [commit.submit(1), commit.submit(2), commit.submit(3)];
    // The flood's 2 and 3 wait for its group, though a second group could start.
    expect(groups).toEqual([[1]]);
    expect(commit.waiting).toBe(2);
    // Another user's item starts at once beside it.
    const other = commit.submit(11);
    expect(groups).toEqual([[1], [11]]);
    const later = commit.submit(4);
    finishers.shift()!(); // [1] is written: the flood's next group takes its waiting items, in order
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(groups).toEqual([[1], [11], [2, 3, 4]]);
    const afterward = commit.submit(5);
    finishers.shift()!(); // [11] is written: a group is free, but the flood's is still being written
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(groups).toEqual([[1], [11], [2, 3, 4]]);
    expect(commit.waiting).toBe(1);
    finishers.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(groups).toEqual([[1], [11], [2, 3, 4], [5]]);
    finishers.shift()!();
    expect(await Promise.all([...flood, other, later, afterward])).toEqual([10, 20, 30, 110, 40, 50]);
  });

  it('fails every item of a failed group and goes on with the next', async () => {
    let calls = 0;
    const commit = new GroupCommit<number, number>({
      run: async (items) => {
        calls++;
        if (calls === 1) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          throw new Error('write failed');
        }
        return items;
      },
    });
    const failed = commit.submit(1);
    const next = [commit.submit(2), commit.submit(3)];
    await expect(failed).rejects.toThrow('write failed');
    expect(await Promise.all(next)).toEqual([2, 3]);
  });

  it('fails the group when the run answers for the wrong number of items', async () => {
    const commit = new GroupCommit<number, number>({ run: async () => [] });
    await expect(commit.submit(1)).rejects.toThrow('0 results for 1 items');
  });
});
