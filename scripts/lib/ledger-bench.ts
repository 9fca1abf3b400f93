/**
 * The ledger scenario of `bun run bench`: transfers between LEDGER_WALLETS funded wallets through
 * the service's own posting function, beside the cheapest "money move" a naive implementation
 * would do, a bare single-row `UPDATE ... SET balance = balance + $1` on a plain table.
 *
 * - Ledger side: a DatabaseCluster opened the way the service opens it (primary pool of
 *   LEDGER_CONCURRENCY connections), each transfer in `runTransaction` (the path of a request's
 *   `db.transaction`: pool gate, transaction scope) calling `post()` with two legs between two
 *   random distinct wallets. So one posting is: BEGIN, open-if-missing the accounts, lock them
 *   FOR UPDATE in id order, insert the transaction, update the balances, insert the entries (chain
 *   trigger per entry), and COMMIT (deferred balance and zero-sum triggers).
 * - Baseline: a bare postgres-js client (same pool size) running one autocommitted, prepared
 *   `update bench_balances set balance = balance + $1 where id = $2` on a random one of
 *   LEDGER_WALLETS rows of a table with no triggers.
 * Both run LEDGER_CONCURRENCY workers in this process, each looping until the run's deadline;
 * a run's rate is the operations that succeeded over its wall time, its latencies are per
 * operation (client side, from the call to its answer). Failed operations are counted, not retried.
 * Before each run (untimed) the side's hot table is vacuumed: 100 rows updated thousands of times
 * a second leave megabytes of dead versions (hot_standby_feedback holds pruning back), and without
 * it each round would start slower than the last, the later side of a pair paying for the earlier.
 */
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { z } from 'zod';
import { parseConfig } from '../../src/config/env';
import { DatabaseCluster, selectRows } from '../../src/db';
import { createLogger } from '../../src/lib/logger';
import { checkLedger, creditFromStripe, DEFAULT_CURRENCY, type LedgerCheck, post, userAccount } from '../../src/modules/ledger';
import { describeDatabaseError } from './describe';

export const LEDGER_WALLETS = 100;
export const LEDGER_CONCURRENCY = 32;
/** Per wallet, in minor units: far above what any run can move out of one wallet. */
const WALLET_FUNDING = 1_000_000_000_000;
const MAX_TRANSFER = 10_000;
const TRANSFER_KIND = 'bench.transfer';
const BASELINE_TABLE = 'bench_balances';

export type LoadResult = {
  /** Operations that succeeded. */
  ops: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** The first failure's message, for the report (null without errors). */
  firstError: string | null;
};

export type LedgerVerification = {
  check: LedgerCheck;
  /** Transfers counted as committed by the workers (warm-ups included) and found in the ledger. */
  counted: number;
  stored: number;
  /** Sum of the bench wallets' balances, and what it must be (transfers only move money between them). */
  walletTotal: number;
  expectedWalletTotal: number;
};

export const ledgerVerified = (v: LedgerVerification): boolean =>
  v.check.balanceMismatches.length === 0 && v.check.unbalancedTransactions.length === 0 && v.counted === v.stored && v.walletTotal === v.expectedWalletTotal;

const randomInt = (below: number): number => Math.floor(Math.random() * below);

/** Value at quantile q of ascending samples (nearest rank). */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

/** `concurrency` workers calling `operation` back to back until `durationS` has passed. */
async function drive(operation: () => Promise<unknown>, concurrency: number, durationS: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const deadline = started + durationS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        await operation();
        latencies.push(performance.now() - begun);
      } catch (error) {
        errors += 1;
        firstError ??= describeDatabaseError(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return { ops: latencies.length, rps: latencies.length / elapsedS, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), errors, firstError };
}

const countRow = z.object({ count: z.coerce.number() });
const totalRow = z.object({ total: z.coerce.number() });

export class LedgerBench {
  /** Transfers the workers saw commit, across every run of this bench. */
  private committed = 0;
  private sequence = 0;
  private readonly runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  readonly walletIds = Array.from({ length: LEDGER_WALLETS }, (_, index) => `bench-wallet-${index + 1}`);

  private constructor(
    private readonly database: DatabaseCluster,
    private readonly bare: postgres.Sql,
    readonly poolMax: number,
  ) {}

  /**
   * Opens both sides on a migrated primary, funds the wallets through `creditFromStripe` (one
   * transaction each, as a deposit would) and creates the baseline's table of as many rows.
   */
  static async open(primaryUrl: string): Promise<LedgerBench> {
    const config = parseConfig({ DATABASE_URL: primaryUrl, DB_POOL_MAX: String(LEDGER_CONCURRENCY) });
    if (config.database.poolMax < LEDGER_CONCURRENCY) {
      throw new Error(`the ledger scenario needs a primary pool of ${LEDGER_CONCURRENCY}, the config gives ${config.database.poolMax}`);
    }
    const database = await DatabaseCluster.open(config.database, createLogger({ level: 'error' }));
    const bare = postgres(primaryUrl, { max: LEDGER_CONCURRENCY, onnotice: () => {} });
    const bench = new LedgerBench(database, bare, config.database.poolMax);
    try {
      await bench.setUp();
    } catch (error) {
      await bench.close();
      throw error;
    }
    return bench;
  }

  private async setUp(): Promise<void> {
    for (const userId of this.walletIds) {
      const key = `bench-funding:${this.runId}:${userId}`;
      await this.database.runTransaction((tx) =>
        creditFromStripe(tx, { userId, amount: WALLET_FUNDING, currency: DEFAULT_CURRENCY, effectKey: key, description: 'Bench funding', reference: { type: 'bench', id: key } }),
      );
    }
    await this.bare.unsafe(`create table ${BASELINE_TABLE} (id integer primary key, balance bigint not null)`);
    await this.bare`insert into ${this.bare(BASELINE_TABLE)} (id, balance) select i, ${WALLET_FUNDING} from generate_series(1, ${LEDGER_WALLETS}) as i`;
    await this.bare.unsafe(`analyze ${BASELINE_TABLE}`);
  }

  /** One transfer between two random distinct wallets, through the production posting path. */
  private async transfer(): Promise<void> {
    const from = randomInt(LEDGER_WALLETS);
    const to = (from + 1 + randomInt(LEDGER_WALLETS - 1)) % LEDGER_WALLETS;
    const amount = 1 + randomInt(MAX_TRANSFER);
    this.sequence += 1;
    const effectKey = `${TRANSFER_KIND}:${this.runId}:${this.sequence}`;
    await this.database.runTransaction((tx) =>
      post(tx, {
        kind: TRANSFER_KIND,
        effectKey,
        description: 'bench',
        legs: [
          { account: userAccount(this.walletIds[from] ?? '', 'available', DEFAULT_CURRENCY), amount: -amount },
          { account: userAccount(this.walletIds[to] ?? '', 'available', DEFAULT_CURRENCY), amount },
        ],
      }),
    );
    this.committed += 1;
  }

  /** One bare single-row update: no transaction block, no triggers, a prepared statement. */
  private async update(): Promise<void> {
    await this.bare`update bench_balances set balance = balance + ${1 + randomInt(MAX_TRANSFER)} where id = ${1 + randomInt(LEDGER_WALLETS)}`;
  }

  async runLedger(durationS: number): Promise<LoadResult> {
    await this.bare.unsafe('vacuum ledger_accounts');
    return drive(() => this.transfer(), LEDGER_CONCURRENCY, durationS);
  }

  async runBaseline(durationS: number): Promise<LoadResult> {
    await this.bare.unsafe(`vacuum ${BASELINE_TABLE}`);
    return drive(() => this.update(), LEDGER_CONCURRENCY, durationS);
  }

  /** The ledger's self-check over everything, plus this bench's own bookkeeping. */
  async verify(): Promise<LedgerVerification> {
    const db = this.database.primary;
    const check = await checkLedger(db);
    const [stored] = await selectRows(db, sql`select count(*) as count from ledger_transactions where kind = ${TRANSFER_KIND}`, countRow);
    const [total] = await selectRows(
      db,
      sql`select coalesce(sum(balance), 0) as total from ledger_accounts
          where owner_type = 'user' and kind = 'available' and owner_id like 'bench-wallet-%'`,
      totalRow,
    );
    return { check, counted: this.committed, stored: stored?.count ?? 0, walletTotal: total?.total ?? 0, expectedWalletTotal: WALLET_FUNDING * LEDGER_WALLETS };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.database.close(), this.bare.end({ timeout: 0 })]);
  }
}
