/** The bounded wait in front of every pool (src/db/pool-gate.ts), without a database. */
import { describe, expect, test } from 'bun:test';
import { PoolBusyError, PoolGate, QueryDeadlineError } from '../src/db/pool-gate';

const never = (): Promise<never> => new Promise<never>(() => {});

describe('PoolGate', () => {
  test('a caller that finds every permit taken is refused after the acquire timeout, not queued for ever', async () => {
    const gate = new PoolGate('primary', 1, 50, 10_000);
    let finish = (): void => {};
    const holder = gate.run(() => new Promise<void>((resolve) => (finish = resolve)));
    const started = performance.now();
    await expect(gate.run(async () => 'never runs')).rejects.toBeInstanceOf(PoolBusyError);
    expect(performance.now() - started).toBeLessThan(1_000);
    finish();
    await holder;
    expect(await gate.run(async () => 'runs once a permit is free')).toBe('runs once a permit is free');
    expect(gate.usage).toEqual({ inUse: 0, waiting: 0, permits: 1 });
  });

  test('work that never settles is answered at the deadline and gives its permit back', async () => {
    const gate = new PoolGate('replica1', 1, 50, 60);
    await expect(gate.run(never)).rejects.toBeInstanceOf(QueryDeadlineError);
    // The stuck work no longer holds the only permit.
    expect(await gate.run(async () => 42)).toBe(42);
  });

  test('a waiter gets the permit handed over when the holder finishes', async () => {
    const gate = new PoolGate('primary', 1, 1_000, 10_000);
    const order: string[] = [];
    const first = gate.run(async () => {
      await Bun.sleep(20);
      order.push('first');
    });
    const second = gate.run(async () => {
      order.push('second');
    });
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });

  test('work that throws before it starts returns its permit at once', async () => {
    const gate = new PoolGate('primary', 1, 50, 10_000);
    await expect(
      gate.run(() => {
        throw new Error('failed to build the query');
      }),
    ).rejects.toThrow('failed to build the query');
    await Bun.sleep(0);
    expect(gate.usage.inUse).toBe(0);
    expect(await gate.run(async () => 'next')).toBe('next');
  });

  test('work that settles after its deadline never releases twice', async () => {
    const gate = new PoolGate('primary', 1, 50, 30);
    await expect(gate.run(() => Bun.sleep(80).then(() => 'late'))).rejects.toBeInstanceOf(QueryDeadlineError);
    await Bun.sleep(100);
    expect(gate.usage).toEqual({ inUse: 0, waiting: 0, permits: 1 });
  });

  // Regression: drizzle's query builders run their query on every then(); the gate once called
  // then() twice, so every write through it was executed twice (each POST /posts made two posts).
  test('a thenable is run exactly once', async () => {
    const gate = new PoolGate('primary', 2, 50, 1_000);
    let runs = 0;
    const thenable = {
      then<R>(resolve: (value: string) => R) {
        runs += 1;
        return Promise.resolve(resolve('done'));
      },
    };
    expect(await gate.run(() => thenable as unknown as Promise<string>)).toBe('done');
    await Bun.sleep(10);
    expect(runs).toBe(1);
  });
});
