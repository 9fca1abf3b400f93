/**
 * A model-based test of the ledger (fast-check `asyncModelRun`): random deposits, withdrawals
 * (held, then paid or failed), bounty escrows (held, then released less the fee, refunded or
 * split), chargebacks past the balance and second resolutions, run against the real primary and
 * an in-memory model. After every step every invariant is checked against the database:
 * balances as the model says, none that must stay non-negative below zero, each cached balance
 * the sum of its entries, every transaction balanced, and the whole ledger summing to zero.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { type DatabaseCluster, selectRows } from '../src/db';
import { HttpError } from '../src/lib/errors';
import {
  checkLedger,
  creditFromStripe,
  holdEscrow,
  openHold,
  reclaim,
  refundEscrow,
  releaseEscrow,
  resolveHold,
  splitEscrow,
  userAccount,
} from '../src/modules/ledger';
import { hasCluster } from './support/harness';
import { balanceOf, openTestDatabase, randomUserId } from './support/ledger';

const FEE_BPS = 1_000;

type Pending = { id: string; amount: number; user: number };
type Model = {
  users: string[];
  available: number[];
  withdrawalHold: number[];
  receivable: number[];
  frozen: boolean[];
  withdrawals: Pending[];
  escrows: Pending[];
  resolvedEscrows: string[];
};
type Real = { database: DatabaseCluster };

const codeOf = (error: unknown): string => (error instanceof HttpError ? error.code : `unexpected: ${String(error)}`);
const attempt = (work: Promise<unknown>): Promise<string> => work.then(() => 'ok', codeOf);

const pick = <T>(items: T[], index: number): T | undefined => (items.length === 0 ? undefined : items[index % items.length]);

class Deposit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly user: number, readonly amount: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const userId = model.users[this.user] ?? '';
    const key = `model:deposit:${crypto.randomUUID()}`;
    await real.database.primary.transaction((tx) =>
      creditFromStripe(tx, { userId, amount: this.amount, currency: 'usd', effectKey: key, description: 'model deposit', reference: { type: 'model', id: key } }),
    );
    model.available[this.user] = (model.available[this.user] ?? 0) + this.amount;
  }
  toString = () => `deposit(${this.user}, ${this.amount})`;
}

class RequestWithdrawal implements fc.AsyncCommand<Model, Real> {
  constructor(readonly user: number, readonly amount: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const userId = model.users[this.user] ?? '';
    const id = crypto.randomUUID();
    const outcome = await attempt(
      real.database.primary.transaction((tx) =>
        openHold(tx, {
          kind: 'withdrawal',
          referenceId: id,
          userId,
          from: userAccount(userId, 'available', 'usd'),
          to: userAccount(userId, 'withdrawal_hold', 'usd'),
          amount: this.amount,
          description: 'model withdrawal',
        }),
      ),
    );
    const available = model.available[this.user] ?? 0;
    // A frozen wallet is refused before its balance is looked at.
    const expected = model.frozen[this.user] ? 'WALLET_FROZEN' : available < this.amount ? 'INSUFFICIENT_FUNDS' : 'ok';
    expect(outcome).toBe(expected);
    if (outcome !== 'ok') return;
    model.available[this.user] = available - this.amount;
    model.withdrawalHold[this.user] = (model.withdrawalHold[this.user] ?? 0) + this.amount;
    model.withdrawals.push({ id, amount: this.amount, user: this.user });
  }
  toString = () => `withdraw(${this.user}, ${this.amount})`;
}

class SettleWithdrawal implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number, readonly paid: boolean) {}
  check = (model: Readonly<Model>) => model.withdrawals.length > 0;
  async run(model: Model, real: Real) {
    const withdrawal = pick(model.withdrawals, this.index);
    if (!withdrawal) return;
    await real.database.primary.transaction((tx) =>
      resolveHold(tx, { kind: 'withdrawal', referenceId: withdrawal.id }, (hold, accounts) =>
        this.paid
          ? { status: 'posted', kind: 'withdrawal.paid', description: 'paid', destinations: [{ account: { ...accounts.source, ownerType: 'platform', ownerId: 'platform', kind: 'external', userId: null }, amount: hold.amount }] }
          : { status: 'voided', kind: 'withdrawal.void', description: 'failed', destinations: [{ account: accounts.source, amount: hold.amount }] },
      ),
    );
    model.withdrawals = model.withdrawals.filter((item) => item !== withdrawal);
    model.withdrawalHold[withdrawal.user] = (model.withdrawalHold[withdrawal.user] ?? 0) - withdrawal.amount;
    if (!this.paid) model.available[withdrawal.user] = (model.available[withdrawal.user] ?? 0) + withdrawal.amount;
  }
  toString = () => `${this.paid ? 'pay' : 'fail'}Withdrawal(${this.index})`;
}

class FundBounty implements fc.AsyncCommand<Model, Real> {
  constructor(readonly user: number, readonly amount: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const userId = model.users[this.user] ?? '';
    const bountyId = crypto.randomUUID();
    const outcome = await attempt(real.database.primary.transaction((tx) => holdEscrow(tx, { bountyId, posterId: userId, amount: this.amount, currency: 'usd' })));
    const available = model.available[this.user] ?? 0;
    expect(outcome).toBe(model.frozen[this.user] ? 'WALLET_FROZEN' : available < this.amount ? 'INSUFFICIENT_FUNDS' : 'ok');
    if (outcome !== 'ok') return;
    model.available[this.user] = available - this.amount;
    model.escrows.push({ id: bountyId, amount: this.amount, user: this.user });
  }
  toString = () => `fundBounty(${this.user}, ${this.amount})`;
}

class ResolveBounty implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number, readonly hunter: number, readonly how: 'release' | 'refund' | 'split', readonly share: number) {}
  check = (model: Readonly<Model>) => model.escrows.length > 0;
  async run(model: Model, real: Real) {
    const escrow = pick(model.escrows, this.index);
    if (!escrow) return;
    const hunterId = model.users[this.hunter] ?? '';
    const hunterAmount = Math.floor((escrow.amount * this.share) / 100);
    await real.database.primary.transaction((tx) =>
      this.how === 'release'
        ? releaseEscrow(tx, { bountyId: escrow.id, hunterId, feeBps: FEE_BPS })
        : this.how === 'refund'
          ? refundEscrow(tx, { bountyId: escrow.id })
          : splitEscrow(tx, { bountyId: escrow.id, hunterId, hunterAmount, feeBps: FEE_BPS }),
    );
    const toHunter = this.how === 'release' ? escrow.amount : this.how === 'refund' ? 0 : hunterAmount;
    // The model's own fee (10%, half up), not the code's: a wrong rounding must show here.
    model.available[this.hunter] = (model.available[this.hunter] ?? 0) + toHunter - Math.round((toHunter * FEE_BPS) / 10_000);
    model.available[escrow.user] = (model.available[escrow.user] ?? 0) + escrow.amount - toHunter;
    model.escrows = model.escrows.filter((item) => item !== escrow);
    model.resolvedEscrows.push(escrow.id);
  }
  toString = () => `${this.how}Bounty(${this.index}, hunter ${this.hunter}, ${this.share}%)`;
}

class ResolveAgain implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = (model: Readonly<Model>) => model.resolvedEscrows.length > 0;
  async run(model: Model, real: Real) {
    const bountyId = pick(model.resolvedEscrows, this.index) ?? '';
    expect(await attempt(real.database.primary.transaction((tx) => refundEscrow(tx, { bountyId })))).toBe('HOLD_ALREADY_RESOLVED');
  }
  toString = () => `resolveAgain(${this.index})`;
}

class Chargeback implements fc.AsyncCommand<Model, Real> {
  constructor(readonly user: number, readonly amount: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const userId = model.users[this.user] ?? '';
    const key = `model:chargeback:${crypto.randomUUID()}`;
    await real.database.primary.transaction((tx) =>
      reclaim(tx, { userId, amount: this.amount, currency: 'usd', kind: 'chargeback', effectKey: key, description: 'model chargeback', reference: { type: 'model', id: key }, freezeReason: 'model' }),
    );
    const available = model.available[this.user] ?? 0;
    const taken = Math.min(available, this.amount);
    model.available[this.user] = available - taken;
    model.receivable[this.user] = (model.receivable[this.user] ?? 0) - (this.amount - taken);
    if (this.amount > taken) model.frozen[this.user] = true;
  }
  toString = () => `chargeback(${this.user}, ${this.amount})`;
}

const totalsRow = z.object({ currency: z.string(), total: z.coerce.number(), negatives: z.coerce.number() });

async function assertInvariants(model: Model, real: Real): Promise<void> {
  for (const [index, userId] of model.users.entries()) {
    expect(await balanceOf(real.database, userId, 'available')).toBe(model.available[index] ?? 0);
    expect(await balanceOf(real.database, userId, 'withdrawal_hold')).toBe(model.withdrawalHold[index] ?? 0);
    expect(await balanceOf(real.database, userId, 'receivable')).toBe(model.receivable[index] ?? 0);
  }
  for (const escrow of model.escrows) {
    const [row] = await selectRows(real.database.primary, sql`select balance as total, 'usd' as currency, 0 as negatives from ledger_accounts where owner_id = ${escrow.id}`, totalsRow);
    expect(row?.total).toBe(escrow.amount); // invariant 5: escrow holds the funded amount while active
  }
  const totals = await selectRows(
    real.database.primary,
    sql`select currency, sum(balance) as total, count(*) filter (where balance < 0 and not allow_negative) as negatives from ledger_accounts group by currency`,
    totalsRow,
  );
  for (const row of totals) {
    expect(row.total).toBe(0); // every transaction balances, so the whole ledger does
    expect(row.negatives).toBe(0);
  }
  expect(await checkLedger(real.database.primary)).toEqual({ balanceMismatches: [], unbalancedTransactions: [] });
}

describe.skipIf(!hasCluster)('the ledger against an in-memory model (fast-check)', () => {
  let database: DatabaseCluster;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.close());

  test('every invariant holds after every step of random money operations', async () => {
    const user = fc.integer({ min: 0, max: 2 });
    // Half of the amounts end in 5: a 10% fee on them is a half cent, where rounding rules differ.
    const amount = fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 0, max: 499 }).map((tens) => tens * 10 + 5));
    const commands: Array<fc.Arbitrary<fc.AsyncCommand<Model, Real>>> = [
      fc.tuple(user, amount).map(([u, a]) => new Deposit(u, a)),
      fc.tuple(user, amount).map(([u, a]) => new RequestWithdrawal(u, a)),
      fc.tuple(fc.nat(), fc.boolean()).map(([i, paid]) => new SettleWithdrawal(i, paid)),
      fc.tuple(user, amount).map(([u, a]) => new FundBounty(u, a)),
      fc
        .tuple(fc.nat(), user, fc.constantFrom('release' as const, 'refund' as const, 'split' as const), fc.integer({ min: 0, max: 100 }))
        .map(([i, h, how, share]) => new ResolveBounty(i, h, how, share)),
      fc.nat().map((i) => new ResolveAgain(i)),
      fc.tuple(user, amount).map(([u, a]) => new Chargeback(u, a)),
    ];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: 'max' }), async (sequence) => {
        const model: Model = {
          users: [randomUserId('m0'), randomUserId('m1'), randomUserId('m2')],
          available: [0, 0, 0],
          withdrawalHold: [0, 0, 0],
          receivable: [0, 0, 0],
          frozen: [false, false, false],
          withdrawals: [],
          escrows: [],
          resolvedEscrows: [],
        };
        const real: Real = { database };
        // Every invariant after every step: the command runs, then the whole ledger is checked.
        const checked = [...sequence].map((command): fc.AsyncCommand<Model, Real> => ({
          check: (state) => command.check(state),
          run: async (state, system) => {
            await command.run(state, system);
            await assertInvariants(state, system);
          },
          toString: () => command.toString(),
        }));
        await fc.asyncModelRun(() => ({ model, real }), checked);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
