import type { SQL } from 'drizzle-orm';
import type { Database } from '../../src/db';

/**
 * Runs `statement` (a lock) in a transaction on `db` and keeps the transaction open until
 * `release()`; resolves once the lock is held. `done` settles when the transaction has ended.
 */
export async function holdLock(db: Database, statement: SQL): Promise<{ release: () => void; done: Promise<void> }> {
  const released = Promise.withResolvers<void>();
  const taken = Promise.withResolvers<void>();
  const done = db.transaction(async (tx) => {
    await tx.execute(statement);
    taken.resolve();
    await released.promise;
  });
  // A failed lock statement must fail the caller, not hang it.
  await Promise.race([taken.promise, done]);
  return { release: () => released.resolve(), done };
}
