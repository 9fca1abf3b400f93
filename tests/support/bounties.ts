/**
 * Bounties through the API, as a client drives them: a draft, published from a funded wallet,
 * applied to, accepted, submitted. Every call goes through `t.request` (checked against the API
 * document); the wallet is funded through the ledger (tests/support/ledger.ts), which is faster
 * than a card deposit and moves the same money.
 */
import type { TestAccount } from './accounts';
import type { TestApp } from './harness';
import { at, readJson } from './json';
import { fund } from './ledger';
import { moneyPost, withCookie } from './money';

const DAY_MS = 86_400_000;

/** A valid draft's body; `deadlineDays` from the app's marketplace clock. */
export function draftBody(t: TestApp, overrides: Record<string, unknown> = {}, deadlineDays = 10): Record<string, unknown> {
  return {
    title: 'Fix the checkout page layout',
    description: 'The checkout page breaks on small screens; make it responsive and keep the totals visible.',
    criteria: ['Works at 320 px wide', 'Totals stay visible while scrolling', 'No new console errors'],
    reward: { amount: 5_000, currency: 'usd' },
    category: 'development',
    tags: ['css', 'web'],
    remote: true,
    deadline: new Date(t.clock().getTime() + deadlineDays * DAY_MS).toISOString(),
    ...overrides,
  };
}

export type Sent = { status: number; body: unknown };

/** A request whose status and body the test judges. */
export async function send(t: TestApp, account: TestAccount | null, method: string, path: string, json?: unknown, headers: Record<string, string> = {}): Promise<Sent> {
  const init = { method, headers, ...(json !== undefined ? { json } : {}) };
  const response = await t.request(path, account ? withCookie(account, init) : init);
  if (account) account.jar.store(response);
  return { status: response.status, body: await readJson(response) };
}

export const idOf = (sent: Sent): string => String(at(sent.body, 'data', 'id'));
export const stateOf = (sent: Sent): unknown => at(sent.body, 'data', 'state');

export async function createDraft(t: TestApp, poster: TestAccount, overrides: Record<string, unknown> = {}): Promise<string> {
  const sent = await send(t, poster, 'POST', '/bounties', draftBody(t, overrides));
  if (sent.status !== 201) throw new Error(`draft failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  return idOf(sent);
}

/** Publishes from the wallet (with a fresh Idempotency-Key unless one is given). */
export async function publish(t: TestApp, poster: TestAccount, bountyId: string, key: string = crypto.randomUUID()): Promise<Sent> {
  const response = poster.jar.store(await t.request(`/bounties/${bountyId}/publish`, moneyPost(poster, { funding: 'wallet' }, key)));
  return { status: response.status, body: await readJson(response) };
}

/** A funded, open bounty: the wallet gets exactly the reward first. */
export async function openBounty(t: TestApp, poster: TestAccount, overrides: Record<string, unknown> = {}): Promise<string> {
  const id = await createDraft(t, poster, overrides);
  const reward = (overrides.reward as { amount: number } | undefined)?.amount ?? 5_000;
  await fund(t.database, poster.id, reward);
  const sent = await publish(t, poster, id);
  if (sent.status !== 200) throw new Error(`publish failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  return id;
}

/** The hunter applies; returns the request's id. */
export async function apply(t: TestApp, hunter: TestAccount, bountyId: string): Promise<string> {
  const sent = await send(t, hunter, 'POST', `/bounties/${bountyId}/requests`, { message: 'I have done this before and can start today.' });
  if (sent.status !== 201) throw new Error(`apply failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  return idOf(sent);
}

/** Open, applied to and accepted: in progress with `hunter` (whose payouts must be enabled). */
export async function bountyInProgress(t: TestApp, poster: TestAccount, hunter: TestAccount, overrides: Record<string, unknown> = {}): Promise<string> {
  const id = await openBounty(t, poster, overrides);
  const requestId = await apply(t, hunter, id);
  const accepted = await send(t, poster, 'POST', `/requests/${requestId}/accept`);
  if (accepted.status !== 200) throw new Error(`accept failed: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  return id;
}

export const submission = { message: 'Done: responsive at 320 px, totals sticky.', links: ['https://github.com/example/shop/pull/42'] };

/** In progress, then submitted by the hunter. */
export async function submittedBounty(t: TestApp, poster: TestAccount, hunter: TestAccount, overrides: Record<string, unknown> = {}): Promise<string> {
  const id = await bountyInProgress(t, poster, hunter, overrides);
  const sent = await send(t, hunter, 'POST', `/bounties/${id}/submit`, submission);
  if (sent.status !== 200) throw new Error(`submit failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  return id;
}

/** The bounty as `viewer` sees it now (settled replicas: timers and other users wrote it). */
export async function bountyOf(t: TestApp, viewer: TestAccount | null, id: string): Promise<Sent> {
  await t.settle();
  return send(t, viewer, 'GET', `/bounties/${id}`);
}
