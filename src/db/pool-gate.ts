/**
 * Bounded waiting for one connection pool. postgres-js queues a query without limit when all of
 * a pool's connections are busy, so one stuck table once held every request that needed the pool
 * for as long as the lock lasted (issue 7: 40 writes behind `LOCK TABLE posts` took 19 s, and
 * unrelated requests waited 11-17 s behind them). Each pool gets a gate with as many permits as
 * connections:
 * - a caller that cannot get a permit within `acquireTimeoutMs` is refused (PoolBusyError, 503);
 * - work that has not settled by `deadlineMs` is answered as timed out (QueryDeadlineError, 503).
 *   PostgreSQL's statement_timeout is the real bound; this one catches what the server cannot
 *   (a connection that died mid-query and never settles). The permit is returned at the deadline
 *   too, so a query that never settles cannot shrink the pool for good.
 */
export class PoolBusyError extends Error {
  override name = 'PoolBusyError';
}

export class QueryDeadlineError extends Error {
  override name = 'QueryDeadlineError';
}

type Waiter = { grant: () => void; timer: ReturnType<typeof setTimeout> };

export class PoolGate {
  private inUse = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly name: string,
    private readonly permits: number,
    private readonly acquireTimeoutMs: number,
    private readonly deadlineMs: number,
  ) {}

  /** Permits held right now, and callers waiting for one (for metrics and tests). */
  get usage(): { inUse: number; waiting: number; permits: number } {
    return { inUse: this.inUse, waiting: this.waiters.length, permits: this.permits };
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.release();
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        release();
        reject(new QueryDeadlineError(`${this.name}: no answer within ${this.deadlineMs} ms`));
      }, this.deadlineMs);
    });
    // Adopted once: drizzle's query builders are thenables that run their query on EVERY then().
    // Inside the executor, so a synchronous throw is a rejection and releases the permit now.
    const pending = new Promise<T>((resolve) => resolve(work()));
    try {
      return await Promise.race([pending, deadline]);
    } finally {
      clearTimeout(timer);
      // Returned when the work settles (or at the deadline, above), never earlier.
      pending.then(release, release);
    }
  }

  private acquire(): Promise<void> {
    if (this.inUse < this.permits) {
      this.inUse += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(new PoolBusyError(`${this.name}: no connection free within ${this.acquireTimeoutMs} ms`));
        }, this.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private release(): void {
    const next = this.waiters.shift();
    // The permit passes straight to the next waiter: inUse stays the same.
    if (next) next.grant();
    else this.inUse -= 1;
  }
}
