/**
 * Withdrawals end to end on the real cluster and the local Stripe server: a payout account
 * onboarded through its link, the amount held at once and paid by the payout job, a refusal that
 * returns the money with a reason, and the money guide's proofs: 50 concurrent withdrawals over
 * one balance, a provider call that times out after the provider paid, and a worker killed
 * between the hold and the provider call. Each ends with exactly one transfer per withdrawal.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { withdrawals } from '../src/db';
import { JobQueue } from '../src/jobs';
import { jobDefinitions } from '../src/job-definitions';
import { createLogger } from '../src/lib/logger';
import { checkLedger } from '../src/modules/ledger';
import { signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, TEST_JOB_TIMING, type TestApp } from './support/harness';
import { at, readJson } from './support/json';
import { depositByCard, moneyPost, onboard, settleWebhooks, walletOf, withCookie } from './support/money';
import { waitFor } from './support/wait';
import { spawnWorker } from './support/worker-process';

const withdraw = (t: TestApp, account: TestAccount, amount: number, key?: string) =>
  t.request('/wallet/withdrawals', moneyPost(account, { amount: { amount, currency: 'usd' } }, key));

/** The withdrawal as its owner sees it, once it has left `pending` (the payout job ran). */
async function settledWithdrawal(t: TestApp, account: TestAccount, id: string, timeoutMs = 15_000) {
  let body: unknown = null;
  await waitFor(
    `withdrawal ${id} to leave pending`,
    async () => {
      await t.settle();
      body = await readJson(await t.request(`/wallet/withdrawals/${id}`, withCookie(account)));
      const status = at(body, 'data', 'status');
      return typeof status === 'string' && status !== 'pending';
    },
    timeoutMs,
    100,
  );
  return at(body, 'data');
}

/** A worker for an app started with `work: false`: the app's queue, worked from here. */
async function startWorker(t: TestApp): Promise<JobQueue> {
  const worker = JobQueue.create({ database: t.database, logger: createLogger({ level: 'silent' }), schema: t.jobsSchema, pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 });
  for (const definition of jobDefinitions({ stripe: t.stripe, marketplace: t.config.marketplace, notifications: t.config.notifications, conversations: t.config.conversations, risk: t.config.risk, analytics: t.config.analytics, retry: TEST_JOB_TIMING })) worker.define(definition);
  await worker.start({ work: true });
  return worker;
}

const transfersFor = (t: TestApp, withdrawalId: string) => t.stripeServer.state.transfers().filter((transfer) => transfer.metadata.withdrawal_id === withdrawalId);

describe.skipIf(!hasCluster)('withdrawals through Stripe Connect', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { work: true });
  });
  afterAll(() => t.close());

  test('without a payout account a withdrawal is 409 PAYOUTS_NOT_ENABLED and holds nothing', async () => {
    const alice = await signUp(t, 'no-payouts');
    await depositByCard(t, alice, 1_000);
    const response = await withdraw(t, alice, 500);
    expect(response.status).toBe(409);
    expect(at(await readJson(response), 'error')).toBe('PAYOUTS_NOT_ENABLED');
    expect((await walletOf(t, alice)).available.amount).toBe(1_000);
  });

  test('sign up, deposit $50, onboard through the link, withdraw $20: held at once, then paid by one Connect transfer', async () => {
    const alice = await signUp(t, 'withdrawer');
    await depositByCard(t, alice, 5_000);
    const created = alice.jar.store(await t.request('/connect/account', withCookie(alice, { method: 'POST' })));
    expect(created.status).toBe(201);
    expect(at(await readJson(created), 'data')).toMatchObject({ detailsSubmitted: false, payoutsEnabled: false });
    const again = await t.request('/connect/account', withCookie(alice, { method: 'POST' }));
    expect(again.status).toBe(200);
    const link = await readJson(await t.request('/connect/onboarding-link', withCookie(alice, { method: 'POST' })));
    const url = String(at(link, 'data', 'url'));
    // What the user's browser does: Stripe's hosted onboarding, then back to our return URL.
    const onboarding = await fetch(url, { redirect: 'manual' });
    expect(onboarding.status).toBe(302);
    expect(onboarding.headers.get('location')).toBe(t.config.connect.returnUrl);
    await settleWebhooks(t);
    const account = await readJson(await t.request('/connect/account', withCookie(alice)));
    expect(at(account, 'data')).toMatchObject({ detailsSubmitted: true, payoutsEnabled: true, requirementsDue: [] });

    const response = alice.jar.store(await withdraw(t, alice, 2_000));
    expect(response.status).toBe(201);
    const id = String(at(await readJson(response), 'data', 'id'));
    const settled = await settledWithdrawal(t, alice, id);
    expect(settled).toMatchObject({ status: 'paid', amount: { amount: 2_000, currency: 'usd' }, failureReason: null });
    const wallet = await walletOf(t, alice);
    expect(wallet.available.amount).toBe(3_000);
    expect(wallet.heldForWithdrawals.amount).toBe(0);
    const transfers = transfersFor(t, id);
    expect(transfers).toHaveLength(1);
    expect(transfers[0]).toMatchObject({ amount: 2_000, currency: 'usd', destination: String(at(account, 'data', 'accountId')) });
    const history = await readJson(await t.request('/wallet/transactions', withCookie(alice)));
    expect(at(history, 'data', 0)).toMatchObject({ kind: 'withdrawal.hold', amount: { amount: -2_000, currency: 'usd' }, status: 'completed' });
  });

  test('a transfer Stripe refuses for good: the withdrawal fails with the reason and the money is back in the balance', async () => {
    const bob = await signUp(t, 'refused');
    await depositByCard(t, bob, 1_500);
    const accountId = await onboard(t, bob);
    // Stripe restricts the account, and its account.updated has not reached us yet.
    t.stripeServer.webhooks.configure({ hold: true });
    try {
      t.stripeServer.accounts.restrict(accountId, ['external_account']);
      const response = await withdraw(t, bob, 1_000);
      expect(response.status).toBe(201);
      const settled = await settledWithdrawal(t, bob, String(at(await readJson(response), 'data', 'id')));
      expect(at(settled, 'status')).toBe('failed');
      expect(String(at(settled, 'failureReason'))).toContain('refused');
    } finally {
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush();
      await settleWebhooks(t);
    }
    const wallet = await walletOf(t, bob);
    expect(wallet.available.amount).toBe(1_500);
    expect(wallet.heldForWithdrawals.amount).toBe(0);
    const history = await readJson(await t.request('/wallet/transactions', withCookie(bob)));
    expect(at(history, 'data', 0)).toMatchObject({ kind: 'withdrawal.void', amount: { amount: 1_000, currency: 'usd' } });
    expect(at(history, 'data', 1)).toMatchObject({ kind: 'withdrawal.hold', status: 'returned' });
  });

  test('50 concurrent withdrawals of 300 over a balance of 1000: exactly 3 succeed, the rest are 409, none is 5xx, nothing goes below zero', async () => {
    const carol = await signUp(t, 'racer');
    await depositByCard(t, carol, 1_000);
    await onboard(t, carol);
    const responses = await Promise.all(Array.from({ length: 50 }, () => withdraw(t, carol, 300)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(3);
    expect(statuses.filter((status) => status !== 201).every((status) => status === 409)).toBe(true);
    const codes = await Promise.all(responses.filter((response) => response.status === 409).map(async (response) => at(await readJson(response), 'error')));
    expect(new Set(codes)).toEqual(new Set(['INSUFFICIENT_FUNDS']));
    // Three holds of 300 left 100 available; each is held or already paid, never more.
    expect((await walletOf(t, carol)).available.amount).toBe(100);
    expect(await checkLedger(t.database.primary)).toEqual({ balanceMismatches: [], unbalancedTransactions: [] });
  });

  test('the same Idempotency-Key twice is one withdrawal and one hold', async () => {
    const dave = await signUp(t, 'retrier');
    await depositByCard(t, dave, 1_000);
    await onboard(t, dave);
    const key = crypto.randomUUID();
    const [first, second] = [await withdraw(t, dave, 400, key), await withdraw(t, dave, 400, key)];
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(at(await readJson(second), 'data', 'id')).toBe(at(await readJson(first), 'data', 'id'));
    expect((await t.database.primary.select().from(withdrawals).where(eq(withdrawals.userId, dave.id))).length).toBe(1);
    // One hold of 400 (held, or already paid out): never two.
    expect((await walletOf(t, dave)).available.amount).toBe(600);
  });

  test("another user's withdrawal is the same 404 as one that does not exist", async () => {
    const [erin, frank] = await Promise.all([signUp(t, 'owner'), signUp(t, 'prober')]);
    await depositByCard(t, erin, 1_000);
    await onboard(t, erin);
    const id = String(at(await readJson(await withdraw(t, erin, 100)), 'data', 'id'));
    const asFrank = await t.request(`/wallet/withdrawals/${id}`, withCookie(frank));
    const missing = await t.request(`/wallet/withdrawals/${crypto.randomUUID()}`, withCookie(frank));
    expect(asFrank.status).toBe(404);
    expect(await asFrank.json()).toEqual(await missing.json());
  });
});

describe.skipIf(!hasCluster)('a payout happens at most once, whatever fails', () => {
  test('the provider call times out after the provider made the transfer: the retry uses the same key and the user is paid once', async () => {
    const t = await startTestApp({ STRIPE_TIMEOUT_MS: '300' }, { work: true });
    try {
      const alice = await signUp(t, 'timeout');
      await depositByCard(t, alice, 2_000);
      await onboard(t, alice);
      t.stripeServer.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'timeout_after', times: 1 });
      const response = await withdraw(t, alice, 1_500);
      const id = String(at(await readJson(response), 'data', 'id'));
      const settled = await settledWithdrawal(t, alice, id);
      expect(at(settled, 'status')).toBe('paid');
      expect(transfersFor(t, id)).toHaveLength(1);
      const [row] = await t.database.primary.select().from(withdrawals).where(eq(withdrawals.id, id));
      expect(row?.attempts).toBeGreaterThanOrEqual(2);
      const wallet = await walletOf(t, alice);
      expect(wallet.available.amount).toBe(500);
      expect(wallet.heldForWithdrawals.amount).toBe(0);
    } finally {
      t.stripeServer.faults.release();
      await t.close();
    }
  }, 30_000);

  test('regression (a retry after Stripe forgot the key): the retry finds the transfer the timed-out attempt made instead of making a second one', async () => {
    const t = await startTestApp({ STRIPE_TIMEOUT_MS: '300' }, { work: true });
    try {
      const alice = await signUp(t, 'forgotten-key');
      await depositByCard(t, alice, 2_000);
      await onboard(t, alice);
      t.stripeServer.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'timeout_after', times: 1 });
      const id = String(at(await readJson(await withdraw(t, alice, 1_000)), 'data', 'id'));
      // The first attempt made the transfer and never heard back; then Stripe forgets its key
      // (24 h pass before the retry, or an operator re-sends the dead letter).
      await waitFor('the first attempt to reach Stripe', () => transfersFor(t, id).length === 1, 10_000, 20);
      t.stripeServer.idempotency.forgetAll();
      const settled = await settledWithdrawal(t, alice, id);
      expect(at(settled, 'status')).toBe('paid');
      expect(transfersFor(t, id)).toHaveLength(1);
      expect((await walletOf(t, alice)).available.amount).toBe(1_000);
    } finally {
      t.stripeServer.faults.release();
      await t.close();
    }
  }, 30_000);

  test('a wallet frozen by a chargeback while its withdrawal waits for the payout job is not paid out: the withdrawal fails with the reason, the money stays', async () => {
    const t = await startTestApp({}, { work: false });
    let worker: JobQueue | null = null;
    try {
      const alice = await signUp(t, 'frozen-payout');
      const deposit = await depositByCard(t, alice, 1_000);
      await onboard(t, alice);
      const id = String(at(await readJson(await withdraw(t, alice, 800)), 'data', 'id'));
      // The card payment is disputed before the payout runs: 200 available cannot cover 1000.
      const chargeId = t.stripeServer.state.paymentIntents().find((intent) => intent.id === deposit.paymentIntentId)?.latest_charge ?? '';
      t.stripeServer.charges.dispute(chargeId);
      await settleWebhooks(t);
      expect((await walletOf(t, alice)).frozen).toBe(true);
      worker = await startWorker(t);
      const settled = await settledWithdrawal(t, alice, id);
      expect(at(settled, 'status')).toBe('failed');
      expect(String(at(settled, 'failureReason'))).toContain('frozen');
      expect(transfersFor(t, id)).toHaveLength(0);
      const wallet = await walletOf(t, alice);
      expect(wallet.heldForWithdrawals.amount).toBe(0);
      expect(wallet.available.amount).toBe(800);
      expect(wallet.owed.amount).toBe(800);
    } finally {
      await worker?.stop({ timeoutMs: 2_000 });
      await t.close();
    }
  }, 30_000);

  test('the worker is killed between the hold and the provider call: after a restart the user is paid once', async () => {
    // This app only enqueues; the payout is worked by a separate `bun run worker` process.
    const t = await startTestApp({}, { work: false });
    let replacement: JobQueue | null = null;
    let worker: ReturnType<typeof Bun.spawn> | null = null;
    try {
      const alice = await signUp(t, 'crash');
      await depositByCard(t, alice, 2_000);
      await onboard(t, alice);
      // The worker's transfer request will hang at the provider, never performed.
      t.stripeServer.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'hang_before', times: 1 });
      const id = String(at(await readJson(await withdraw(t, alice, 1_200)), 'data', 'id'));
      expect((await walletOf(t, alice)).heldForWithdrawals.amount).toBe(1_200);

      worker = spawnWorker(t);
      // The worker took the job (active): it is on its way to the provider, or waiting there. A
      // bound, not a speed claim: a fresh `bun src/worker.ts` starts every queue first, which took
      // over 15 s on a machine busy with another cluster.
      await waitFor('the worker to take the payout job', async () => (await t.jobs.findJobs('payouts.execute')).some((job) => job.state === 'active'), 30_000, 50);
      worker.kill('SIGKILL');
      await worker.exited;
      // Whether the dead worker's request reached the provider or not, it was never performed.
      t.stripeServer.faults.clear();
      t.stripeServer.faults.release();
      expect(transfersFor(t, id)).toHaveLength(0);

      // A worker again (here, in this process): the dead worker's job expires and is retried.
      replacement = await startWorker(t);
      const settled = await settledWithdrawal(t, alice, id, 25_000);
      expect(at(settled, 'status')).toBe('paid');
      expect(transfersFor(t, id)).toHaveLength(1);
      const wallet = await walletOf(t, alice);
      expect(wallet.available.amount).toBe(800);
      expect(wallet.heldForWithdrawals.amount).toBe(0);
    } finally {
      // A failed wait must not leave the worker process running past the suite.
      if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      t.stripeServer.faults.release();
      await replacement?.stop({ timeoutMs: 2_000 });
      await t.close();
    }
  }, 75_000);
});
