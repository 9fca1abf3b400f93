/**
 * Money's operations on the real cluster: the sweep for deposits whose webhook never came, the
 * periodic ledger check (a job) and its metrics, the Apple Pay domain-association file. (A bounty
 * funded straight from a card is tested with the bounties, tests/bounties-lifecycle.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { deposits } from '../src/db';
import { createLogger } from '../src/lib/logger';
import { sweepWaitingDeposits } from '../src/modules/webhooks/service';
import { LEDGER_CHECK_JOB } from '../src/modules/ledger/jobs';
import { signUp } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { depositByCard, settleWebhooks, walletOf } from './support/money';

describe.skipIf(!hasCluster)('money operations', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ APPLE_PAY_DOMAIN_ASSOCIATION: 'apple-association-file-content' }, { work: true });
  });
  afterAll(() => t.close());

  test('a deposit whose webhook never comes is credited by the sweep once it has waited 15 minutes (the clock moved, not slept), and only once', async () => {
    const payer = await signUp(t, 'unheard');
    t.stripeServer.webhooks.configure({ hold: true });
    try {
      const deposit = await depositByCard(t, payer, 900);
      const sweep = (minutesLater: number) =>
        sweepWaitingDeposits({ database: t.database.primary, stripe: t.stripe, logger: createLogger({ level: 'silent' }), fundBounty: t.fundBounty }, new Date(Date.now() + minutesLater * 60_000));
      expect(await sweep(5)).toBe(0);
      expect((await walletOf(t, payer)).available.amount).toBe(0);
      expect(await sweep(16)).toBe(1);
      expect((await walletOf(t, payer)).available.amount).toBe(900);
      expect(await sweep(40)).toBe(0);
      const [row] = await t.database.primary.select().from(deposits).where(eq(deposits.id, deposit.id));
      expect(row?.status).toBe('succeeded');
    } finally {
      // The webhooks come after all: the same effect, credited once.
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush();
      await settleWebhooks(t);
    }
    expect((await walletOf(t, payer)).available.amount).toBe(900);
  });

  test('a deposit the app never confirms is cancelled by the sweep after 3 days, and no longer asked about', async () => {
    const payer = await signUp(t, 'abandoned');
    const created = await t.request('/wallet/deposits', {
      method: 'POST',
      json: { amount: { amount: 800, currency: 'usd' }, method: 'apple_pay' },
      headers: { cookie: payer.jar.header(), 'idempotency-key': crypto.randomUUID() },
    });
    expect(created.status).toBe(201);
    const id = String(((await created.json()) as { data: { id: string } }).data.id);
    const sweepAt = (minutesLater: number) =>
      sweepWaitingDeposits({ database: t.database.primary, stripe: t.stripe, logger: createLogger({ level: 'silent' }), fundBounty: t.fundBounty }, new Date(Date.now() + minutesLater * 60_000));
    await sweepAt(60);
    expect((await t.database.primary.select().from(deposits).where(eq(deposits.id, id)))[0]?.status).toBe('requires_payment');
    await sweepAt(4 * 24 * 60);
    expect((await t.database.primary.select().from(deposits).where(eq(deposits.id, id)))[0]?.status).toBe('canceled');
    const intentId = (await t.database.primary.select().from(deposits).where(eq(deposits.id, id)))[0]?.paymentIntentId;
    expect(t.stripeServer.state.paymentIntents().find((intent) => intent.id === intentId)?.status).toBe('canceled');
  });

  test('the ledger check job finds every balance equal to its entries, and /metrics shows its result', async () => {
    const id = await t.jobs.send(LEDGER_CHECK_JOB, {});
    if (!id) throw new Error('the ledger check was not enqueued');
    const job = await t.jobs.waitForJob(LEDGER_CHECK_JOB, id, { timeoutMs: 15_000 });
    expect(job.state).toBe('completed');
    const metrics = await (await t.request('/metrics')).text();
    expect(metrics).toContain('ledger_check_balance_mismatches 0');
    expect(metrics).toContain('ledger_check_unbalanced_transactions 0');
    expect(metrics).toMatch(/ledger_check_last_run_timestamp_seconds \d+/);
  });

  test('the Apple Pay domain-association file is served from config, as text', async () => {
    const response = await t.request('/.well-known/apple-developer-merchantid-domain-association');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('apple-association-file-content');
  });

  test('without the file configured, the path is 404', async () => {
    const plain = await startTestApp();
    try {
      expect((await plain.request('/.well-known/apple-developer-merchantid-domain-association')).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
