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

/**
 * A counting semaphore whose waits are bounded (PoolBusyError past `waitTimeoutMs`): the pool gate's
 * permits, and DB_PIPELINING=false's per connection (src/db/no-pipelining.ts), where work that holds
 * a permit and then needs another of the same pool (pg-boss looks a queue up outside the caller's
 * transaction until its cache is warm) fails instead of waiting forever.
 */
export class ConnectionPermits {
  private inUse = 0;
  private readonly waiting: Array<{ grant: () => void }> = [];

  constructor(
    readonly name: string,
    readonly permits: number,
    private readonly waitTimeoutMs: number,
  ) {}

  get usage(): { inUse: number; waiting: number } {
    return { inUse: this.inUse, waiting: this.waiting.length };
  }

  /** Resolves with the permit's release (idempotent). */
  acquire(): Promise<() => void> {
    const release = this.releaser();
    if (this.inUse < this.permits) {
      this.inUse += 1;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(release);
        },
      };
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(new PoolBusyError(`${this.name}: no connection free within ${this.waitTimeoutMs} ms`));
      }, this.waitTimeoutMs);
      this.waiting.push(waiter);
    });
  }

  /** Holds a permit while `work` runs. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // Handed straight to the next caller: inUse stays the same.
      if (next) next.grant();
      else this.inUse -= 1;
    };
  }
}

export class PoolGate {
  private readonly permits: ConnectionPermits;

  constructor(
    readonly name: string,
    permits: number,
    acquireTimeoutMs: number,
    private readonly deadlineMs: number,
  ) {
    this.permits = new ConnectionPermits(name, permits, acquireTimeoutMs);
  }

  /** Permits held right now, and callers waiting for one (for metrics and tests). */
  get usage(): { inUse: number; waiting: number; permits: number } {
    return { ...this.permits.usage, permits: this.permits.permits };
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    // Returned once (the releaser is idempotent): when the work settles, or at the deadline.
    const release = await this.permits.acquire();
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
}
