import { describe, expect, it } from '@jest/globals';
import { WorkQueue } from '../../lib/core/work-queue.ts';

/** A promise and the function that settles it: a step the test lets happen when it chooses. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe('WorkQueue', () => {
  it('runs the items a run pushes, and ends once the queue is empty and nothing runs', async () => {
    const queue = new WorkQueue([3]);
    const ran: number[] = [];
    await queue.drain(2, async (n) => {
      ran.push(n);
      if (n > 0) queue.push(n - 1);
    });
    expect(ran).toEqual([3, 2, 1, 0]);
    expect(queue.takeAll()).toEqual([]);
  });

  it('runs at most `concurrency` items at once', async () => {
    const queue = new WorkQueue(Array.from({ length: 20 }, (_, i) => i));
    let running = 0;
    let most = 0;
    await queue.drain(3, async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
    });
    expect(most).toBe(3);
  });

  it('starts an idle worker on an item pushed while another item still runs', async () => {
    const queue = new WorkQueue(['first']);
    const firstMayEnd = gate();
    const secondRan = gate();
    const order: string[] = [];
    const drained = queue.drain(2, async (item) => {
      order.push(`start ${item}`);
      if (item === 'first') {
        queue.push('second');
        await firstMayEnd.opened;
      } else {
        secondRan.open();
      }
      order.push(`end ${item}`);
    });
    // The second item runs while the first is held: the idle worker was woken by the push.
    await secondRan.opened;
    firstMayEnd.open();
    await drained;
    expect(order).toEqual(['start first', 'start second', 'end second', 'end first']);
  });

  it('takes items in the order given, after every push', async () => {
    const queue = new WorkQueue([5, 1], (items) => items.sort((a, b) => a - b));
    const ran: number[] = [];
    await queue.drain(1, async (n) => {
      ran.push(n);
      if (n === 1) queue.push(4, 2);
    });
    expect(ran).toEqual([1, 2, 4, 5]);
  });

  it('stops taking items when told to, and leaves the rest in the queue', async () => {
    const queue = new WorkQueue([1, 2, 3, 4]);
    const ran: number[] = [];
    await queue.drain(
      1,
      async (n) => {
        ran.push(n);
      },
      () => ran.length >= 2,
    );
    expect(ran).toEqual([1, 2]);
    expect(queue.takeAll()).toEqual([3, 4]);
  });

  it('rejects with the error a run throws', async () => {
    const queue = new WorkQueue([1]);
    await expect(
      queue.drain(2, async () => {
        throw new Error('listing failed');
      }),
    ).rejects.toThrow('listing failed');
  });
});
