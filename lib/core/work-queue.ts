/**
 * A queue of work that grows while it is worked: {@link WorkQueue.drain} runs its items `concurrency` at a
 * time, and anything may {@link WorkQueue.push} more meanwhile — a listed node its children, a job step the
 * shards it cut. A worker that finds the queue empty while others still run waits for a push or for one of
 * them to end (which may push); the drain is over when the queue is empty and nothing runs, or when
 * `shouldStop` says so (what was not taken stays in the queue: {@link WorkQueue.takeAll}).
 */
export class WorkQueue<T> {
  private readonly items: T[];
  private readonly order: ((items: T[]) => void) | undefined;
  private active = 0;
  private waiters: (() => void)[] = [];

  /** `order` puts the waiting items in the order they are to be taken, after every push. */
  constructor(initial: readonly T[] = [], order?: (items: T[]) => void) {
    this.items = [...initial];
    this.order = order;
    order?.(this.items);
  }

  push(...items: T[]): void {
    if (items.length === 0) return;
    this.items.push(...items);
    this.order?.(this.items);
    this.wakeAll();
  }

  /** Empties the queue: the items no worker took. */
  takeAll(): T[] {
    return this.items.splice(0);
  }

  /** Runs items `concurrency` at a time until the queue is empty and idle, or `shouldStop()`. */
  async drain(
    concurrency: number,
    run: (item: T) => Promise<void>,
    shouldStop: () => boolean = () => false,
  ): Promise<void> {
    const worker = async () => {
      for (;;) {
        if (shouldStop()) return;
        const item = this.items.shift();
        if (item === undefined) {
          if (this.active === 0) return;
          await new Promise<void>((resolve) => this.waiters.push(resolve));
          continue;
        }
        this.active += 1;
        try {
          await run(item);
        } finally {
          this.active -= 1;
          this.wakeAll();
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  private wakeAll(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }
}
