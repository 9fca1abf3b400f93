/**
 * Requests (applications to a bounty). Applying and accepting hold the bounty's row lock (apply a
 * shared one, accept the engine's exclusive one), so a request can never be added to a bounty
 * that is being accepted, cancelled or expired and be left pending after it; a hunter's pending
 * requests are counted under an advisory lock of their own, so concurrent applies cannot pass the
 * limit together. Who may withdraw or reject is part of the UPDATE's WHERE (see posts/service.ts);
 * only when nothing changed do we look again, to say why (404, 403 or 409).
 */
import { lockActiveAccount } from '../users/active';
import { and, asc, count, desc, eq, exists, ne, sql } from 'drizzle-orm';
import {
  bounties,
  type BountyRequest,
  bountyRequests,
  connectAccounts,
  type Database,
  type DatabaseSession,
  profiles,
  type RequestStatus,
  type Transaction,
  type UserRole,
} from '../../db';
import { constraintOf, findErrorCode, type HttpError } from '../../lib/errors';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { canSee, type Marketplace, transition } from '../bounties/engine';
import { openConversation } from '../conversations/service';
import { toBountySummary } from '../bounties/views';
import { money } from '../ledger';
import { type OutboxMessage, recordEvents } from '../outbox';
import { conflictOn, REQUESTS_ERRORS } from './errors';
import type { MyRequestView, RequestView } from './schemas';

/** A signed-in person. */
export type RequestActor = Readonly<{ id: string; role: UserRole }>;

type Reader = Pick<Database, 'select'>;

export const PAYOUTS_WARNING =
  'You cannot be paid yet: set up payouts (POST /connect/account) before the poster accepts you, or they will not be able to.';

/** The live-request index: a second pending or accepted request of a hunter on one bounty. */
const ONE_LIVE_INDEX = 'bounty_requests_one_live_per_hunter';

// --- Views ----------------------------------------------------------------------------------------

const viewColumns = {
  request: bountyRequests,
  hunterName: profiles.displayName,
  payoutsReady: sql<boolean>`coalesce(${connectAccounts.payoutsEnabled}, false)`,
  /** PostgreSQL's own rendering (microseconds) for the cursor: a JS Date would lose them. */
  cursorAt: sql<string>`${bountyRequests.createdAt}::text`,
};

type ViewRow = { request: BountyRequest; hunterName: string | null; payoutsReady: boolean; cursorAt: string };

const selectViews = (db: Reader) =>
  db
    .select(viewColumns)
    .from(bountyRequests)
    .leftJoin(profiles, eq(profiles.userId, bountyRequests.hunterId))
    .leftJoin(connectAccounts, eq(connectAccounts.userId, bountyRequests.hunterId));

export const toRequestView = (row: ViewRow): RequestView => ({
  id: row.request.id,
  bountyId: row.request.bountyId,
  hunterId: row.request.hunterId,
  hunterName: row.hunterName,
  status: row.request.status,
  closedReason: row.request.closedReason,
  message: row.request.message,
  approach: row.request.approach,
  etaDays: row.request.etaDays,
  portfolioUrl: row.request.portfolioUrl,
  payoutsReady: row.payoutsReady,
  createdAt: row.request.createdAt,
  updatedAt: row.request.updatedAt,
});

async function viewOf(db: Reader, requestId: string): Promise<RequestView> {
  const [row] = await selectViews(db).where(eq(bountyRequests.id, requestId));
  if (!row) throw new Error(`request ${requestId} vanished inside its own transaction`);
  return toRequestView(row);
}

const cursorOf = (row: { cursorAt: string; request: { id: string } }): KeysetCursor => ({ t: row.cursorAt, i: row.request.id });

export async function payoutsEnabled(db: Reader, userId: string): Promise<boolean> {
  const [account] = await db.select({ enabled: connectAccounts.payoutsEnabled }).from(connectAccounts).where(eq(connectAccounts.userId, userId));
  return account?.enabled === true;
}

// --- Apply ----------------------------------------------------------------------------------------

export type NewRequest = {
  message: string;
  approach?: string | undefined;
  etaDays?: number | undefined;
  portfolioUrl?: string | undefined;
};

export type CreatedRequest = RequestView & { warning: string | null };

const alreadyRequested = (): HttpError => REQUESTS_ERRORS.error('ALREADY_REQUESTED');

export async function applyToBounty(
  db: DatabaseSession,
  marketplace: Marketplace,
  actor: RequestActor,
  bountyId: string,
  input: NewRequest,
  now: Date,
): Promise<CreatedRequest> {
  return db.transaction(async (tx) => {
    // The hunter's account first (the ban's lock order: account, then bounties): a ban racing this
    // apply either withdraws it or refuses it.
    await lockActiveAccount(tx, actor.id, now);
    // Shared: applies to one bounty do not wait for each other, but accept, cancel and expiry
    // (which lock it exclusively and close its pending requests) wait for this one to commit.
    const [bounty] = await tx.select().from(bounties).where(eq(bounties.id, bountyId)).for('share');
    if (!bounty || !(await canSee(tx, bounty, actor))) throw REQUESTS_ERRORS.error('BOUNTY_NOT_FOUND');
    if (bounty.posterId === actor.id) throw REQUESTS_ERRORS.error('OWN_BOUNTY');
    if (bounty.state !== 'open') throw conflictOn('BOUNTY_NOT_OPEN', 'state', bounty.state, `The bounty is ${bounty.state}: only an open bounty takes requests`);

    // One hunter's applies, one at a time: the count below stays true until this commits.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`requests:${actor.id}`}))`);
    const earlier = await tx
      .select({ status: bountyRequests.status, closedReason: bountyRequests.closedReason })
      .from(bountyRequests)
      .where(and(eq(bountyRequests.bountyId, bounty.id), eq(bountyRequests.hunterId, actor.id)));
    if (earlier.some((request) => request.status === 'pending' || request.status === 'accepted')) throw alreadyRequested();
    if (earlier.some((request) => request.closedReason === 'poster')) throw REQUESTS_ERRORS.error('REAPPLY_REFUSED');
    if (earlier.some((request) => request.closedReason === 'unassigned')) {
      throw REQUESTS_ERRORS.error('REAPPLY_REFUSED', 'The poster removed you from this bounty: you cannot apply again');
    }
    const [pending] = await tx
      .select({ n: count() })
      .from(bountyRequests)
      .where(and(eq(bountyRequests.hunterId, actor.id), eq(bountyRequests.status, 'pending')));
    const limit = marketplace.settings.maxPendingRequests;
    if ((pending?.n ?? 0) >= limit) {
      throw conflictOn('TOO_MANY_PENDING_REQUESTS', 'pending', String(pending?.n ?? 0), `You have ${limit} pending requests, the most allowed: withdraw one or wait for answers`);
    }

    let created: { id: string } | undefined;
    try {
      [created] = await tx
        .insert(bountyRequests)
        .values({
          bountyId: bounty.id,
          hunterId: actor.id,
          message: input.message,
          approach: input.approach ?? null,
          etaDays: input.etaDays ?? null,
          portfolioUrl: input.portfolioUrl ?? null,
          status: 'pending',
          createdAt: now,
          updatedAt: now,
        })
        .returning({ id: bountyRequests.id });
    } catch (error) {
      // The index is the backstop for a live request the check above could not see yet.
      if (findErrorCode(error, (code) => code === '23505') && constraintOf(error) === ONE_LIVE_INDEX) throw alreadyRequested();
      throw error;
    }
    if (!created) throw new Error('insert into bounty_requests returned no row');
    // The application thread exists with the request (a re-application reuses it).
    await openConversation(tx, { bountyId: bounty.id, posterId: bounty.posterId, hunterId: actor.id, now });
    await recordEvents(tx, now, [
      { topic: 'request.created', recipientId: bounty.posterId, subject: { type: 'request', id: created.id }, payload: { bountyId: bounty.id, title: bounty.title, hunterId: actor.id } },
    ]);
    const view = await viewOf(tx, created.id);
    return { ...view, warning: view.payoutsReady ? null : PAYOUTS_WARNING };
  });
}

// --- Lists ----------------------------------------------------------------------------------------

export type Page<T> = { items: T[]; nextCursor: string | null };

/**
 * A bounty's requests, oldest first: all of them for its poster and admins, only one's own for
 * anyone else (an empty page when they have none). 404 when the viewer may not see the bounty.
 */
export async function listBountyRequests(
  db: DatabaseSession,
  viewer: RequestActor,
  bountyId: string,
  options: { limit: number; cursor: KeysetCursor | null },
): Promise<Page<RequestView>> {
  const { cursor, limit } = options;
  return db.read(async (reader) => {
    const [bounty] = await reader.select().from(bounties).where(eq(bounties.id, bountyId));
    if (!bounty || !(await canSee(reader, bounty, viewer))) throw REQUESTS_ERRORS.error('BOUNTY_NOT_FOUND');
    const seesAll = viewer.id === bounty.posterId || viewer.role === 'admin';
    const rows = await selectViews(reader)
      .where(
        and(
          eq(bountyRequests.bountyId, bountyId),
          seesAll ? undefined : eq(bountyRequests.hunterId, viewer.id),
          cursor ? sql`(${bountyRequests.createdAt}, ${bountyRequests.id}) > (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
        ),
      )
      .orderBy(asc(bountyRequests.createdAt), asc(bountyRequests.id))
      .limit(limit + 1);
    return keysetPage(rows, limit, toRequestView, cursorOf);
  });
}

/** The viewer's own requests, newest first, with what they need to know of each bounty. */
export async function listMyRequests(
  db: DatabaseSession,
  viewer: RequestActor,
  options: { limit: number; cursor: KeysetCursor | null; status?: RequestStatus | undefined },
): Promise<Page<MyRequestView>> {
  const { cursor, limit, status } = options;
  const rows = await db.read((reader) =>
    reader
      .select({
        ...viewColumns,
        bounty: { id: bounties.id, title: bounties.title, state: bounties.state, rewardAmount: bounties.rewardAmount, currency: bounties.currency },
      })
      .from(bountyRequests)
      .innerJoin(bounties, eq(bounties.id, bountyRequests.bountyId))
      .leftJoin(profiles, eq(profiles.userId, bountyRequests.hunterId))
      .leftJoin(connectAccounts, eq(connectAccounts.userId, bountyRequests.hunterId))
      .where(
        and(
          eq(bountyRequests.hunterId, viewer.id),
          status ? eq(bountyRequests.status, status) : undefined,
          cursor ? sql`(${bountyRequests.createdAt}, ${bountyRequests.id}) < (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
        ),
      )
      .orderBy(desc(bountyRequests.createdAt), desc(bountyRequests.id))
      .limit(limit + 1),
  );
  return keysetPage(
    rows,
    limit,
    (row) => ({
      ...toRequestView(row),
      bounty: { id: row.bounty.id, title: row.bounty.title, state: row.bounty.state, reward: money(row.bounty.rewardAmount, row.bounty.currency) },
    }),
    cursorOf,
  );
}

// --- Withdraw and reject ---------------------------------------------------------------------------

/** The request with its bounty's poster, when the actor may see it (theirs, their bounty's, or an admin). */
async function visibleRequest(db: Reader, actor: RequestActor, requestId: string) {
  const [found] = await db
    .select({ request: bountyRequests, posterId: bounties.posterId })
    .from(bountyRequests)
    .innerJoin(bounties, eq(bounties.id, bountyRequests.bountyId))
    .where(eq(bountyRequests.id, requestId));
  if (!found) return null;
  const visible = found.request.hunterId === actor.id || found.posterId === actor.id || actor.role === 'admin';
  return visible ? found : null;
}

/** Why a withdraw or reject changed nothing: not there (404), not the actor's to do (403), not pending (409). */
async function whyNot(tx: Transaction, actor: RequestActor, requestId: string, by: 'hunter' | 'poster'): Promise<HttpError> {
  const found = await visibleRequest(tx, actor, requestId);
  if (!found) return REQUESTS_ERRORS.error('REQUEST_NOT_FOUND');
  if (by === 'hunter' && found.request.hunterId !== actor.id) return REQUESTS_ERRORS.error('NOT_YOUR_REQUEST');
  if (by === 'poster' && found.posterId !== actor.id) return REQUESTS_ERRORS.error('NOT_THE_POSTER');
  return notPending(found.request, by);
}

function notPending(request: Pick<BountyRequest, 'status' | 'bountyId'>, by: 'hunter' | 'poster'): HttpError {
  const message =
    request.status === 'accepted' && by === 'hunter'
      ? `The request was accepted: withdraw from the bounty instead (POST /bounties/${request.bountyId}/withdraw)`
      : `The request is ${request.status}: only a pending request can be changed`;
  return conflictOn('REQUEST_NOT_PENDING', 'status', request.status, message);
}

/**
 * The one way a pending request is withdrawn, inside the caller's transaction: by its hunter
 * (below) or by an admin's ban of the hunter (src/modules/admin/accounts.ts). The poster hears
 * it. Null when it is not `hunterId`'s pending request (any more): the caller says why, or skips it.
 */
export async function withdrawPendingRequest(tx: Transaction, hunterId: string, requestId: string, now: Date): Promise<BountyRequest | null> {
  const [row] = await tx
    .update(bountyRequests)
    .set({ status: 'withdrawn', closedReason: 'hunter', updatedAt: now })
    .where(and(eq(bountyRequests.id, requestId), eq(bountyRequests.hunterId, hunterId), eq(bountyRequests.status, 'pending')))
    .returning();
  if (!row) return null;
  const [bounty] = await tx.select({ posterId: bounties.posterId }).from(bounties).where(eq(bounties.id, row.bountyId));
  if (bounty) await recordEvents(tx, now, [requestEvent('request.withdrawn', bounty.posterId, row)]);
  return row;
}

/** The hunter takes back a pending request (an accepted one is left through the bounty). */
export async function withdrawRequest(db: DatabaseSession, actor: RequestActor, requestId: string, now: Date): Promise<RequestView> {
  return db.transaction(async (tx) => {
    const row = await withdrawPendingRequest(tx, actor.id, requestId, now);
    if (!row) throw await whyNot(tx, actor, requestId, 'hunter');
    return viewOf(tx, row.id);
  });
}

/** The poster turns a pending request down; that hunter may not apply to this bounty again. */
export async function rejectRequest(db: DatabaseSession, actor: RequestActor, requestId: string, now: Date): Promise<RequestView> {
  return db.transaction(async (tx) => {
    const ownBounty = exists(
      tx
        .select({ id: bounties.id })
        .from(bounties)
        .where(and(eq(bounties.id, bountyRequests.bountyId), eq(bounties.posterId, actor.id))),
    );
    const [row] = await tx
      .update(bountyRequests)
      .set({ status: 'rejected', closedReason: 'poster', updatedAt: now })
      .where(and(eq(bountyRequests.id, requestId), eq(bountyRequests.status, 'pending'), ownBounty))
      .returning();
    if (!row) throw await whyNot(tx, actor, requestId, 'poster');
    await recordEvents(tx, now, [requestEvent('request.rejected', row.hunterId, row)]);
    return viewOf(tx, row.id);
  });
}

const requestEvent = (topic: string, recipientId: string, request: Pick<BountyRequest, 'id' | 'bountyId'>): OutboxMessage => ({
  topic,
  recipientId,
  subject: { type: 'request', id: request.id },
  payload: { bountyId: request.bountyId },
});

// --- Accept ---------------------------------------------------------------------------------------

export type AcceptedRequest = { request: RequestView; bounty: ReturnType<typeof toBountySummary> };

/**
 * The poster accepts a request: one transaction through the engine's `accept` (open ->
 * in_progress, the bounty row locked), whose step locks the request, re-checks it is still
 * pending and that its hunter can be paid, accepts it and rejects every other pending request
 * of the bounty as `filled`.
 */
export async function acceptRequest(
  db: DatabaseSession,
  marketplace: Marketplace,
  actor: RequestActor,
  requestId: string,
  now: Date,
): Promise<AcceptedRequest> {
  return db.transaction(async (tx) => {
    // Unlocked: only to find the bounty (which never changes) and to hide others' requests.
    const found = await visibleRequest(tx, actor, requestId);
    if (!found) throw REQUESTS_ERRORS.error('REQUEST_NOT_FOUND');
    const bounty = await transition(tx, marketplace, { bountyId: found.request.bountyId, name: 'accept', actor, now }, async (step) => {
      const [request] = await step.tx.select().from(bountyRequests).where(eq(bountyRequests.id, requestId)).for('update');
      if (!request || request.bountyId !== step.bounty.id) throw REQUESTS_ERRORS.error('REQUEST_NOT_FOUND');
      if (request.status !== 'pending') throw notPending(request, 'poster');
      if (!(await payoutsEnabled(step.tx, request.hunterId))) throw REQUESTS_ERRORS.error('HUNTER_CANNOT_BE_PAID');
      await step.tx
        .update(bountyRequests)
        .set({ status: 'accepted', closedReason: null, updatedAt: step.now })
        .where(eq(bountyRequests.id, request.id));
      const filled = await step.tx
        .update(bountyRequests)
        .set({ status: 'rejected', closedReason: 'filled', updatedAt: step.now })
        .where(and(eq(bountyRequests.bountyId, step.bounty.id), eq(bountyRequests.status, 'pending'), ne(bountyRequests.id, request.id)))
        .returning({ id: bountyRequests.id, bountyId: bountyRequests.bountyId, hunterId: bountyRequests.hunterId });
      return {
        changes: { hunterId: request.hunterId, acceptedAt: step.now },
        details: { requestId: request.id },
        events: filled.map((other) => requestEvent('request.filled', other.hunterId, other)),
      };
    });
    return { request: await viewOf(tx, requestId), bounty: toBountySummary(bounty) };
  });
}
