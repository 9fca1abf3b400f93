/**
 * Bounties outside the lifecycle's transitions: drafts (create, change, delete), reading one with
 * what the viewer may do next, and its history, submissions and dispute. Changes are one
 * statement whose WHERE carries the permission and the state (the poster's own draft), so "not
 * yours", "not there" and "no longer a draft" cannot race with a transition.
 */
import type { Viewer } from '../../lib/auth';
import { and, asc, desc, eq, gt, not, type SQL, sql } from 'drizzle-orm';
import type { MarketplaceSettings, RiskSettings } from '../../config/env';
import { type Bounty, bounties, bountyDisputes, deposits, bountySubmissions, bountyTransitions, type DatabaseSession } from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { allowedTransitions, timerDue } from './lifecycle';
import { canSee, guardFacts, rescheduleExpiry } from './engine';
import { BOUNTIES_ERRORS } from './errors';
import { judgeNewBounty } from '../risk/service';
import { bountyEvent } from '../analytics/events';
import { recordEvents } from '../outbox';
import { EDITABLE_WHEN_OPEN } from './schemas';
import { toBountySummary, toBountyView, toDisputeView, toSubmissionView, toTransitionView } from './views';


export type LocationInput = { name?: string | undefined; latitude: number; longitude: number; radiusKm: number };

export type NewBounty = {
  title: string;
  description: string;
  criteria: string[];
  reward: { amount: number; currency: string };
  category: string;
  tags: string[];
  remote: boolean;
  location?: LocationInput | undefined;
  deadline: string;
  maxRevisions: number;
};

export type BountyChangesInput = Partial<Omit<NewBounty, 'location'>> & { location?: LocationInput | null | undefined };

const MIN_LEAD_MS = 60 * 60 * 1000;

/** A deadline at least an hour ahead of `now`: a bounty must be workable. */
function futureDeadline(text: string, now: Date): Date {
  const deadline = new Date(text);
  if (deadline.getTime() < now.getTime() + MIN_LEAD_MS) throw BOUNTIES_ERRORS.error('DEADLINE_PASSED', 'The deadline must be at least an hour from now');
  return deadline;
}

const criteriaOf = (texts: string[]) => texts.map((text, index) => ({ id: index + 1, text }));

function locationColumns(remote: boolean, location: LocationInput | null | undefined) {
  if (remote || !location) return { locationName: null, latitude: null, longitude: null, radiusKm: null };
  return { locationName: location.name ?? null, latitude: location.latitude, longitude: location.longitude, radiusKm: location.radiusKm };
}

/**
 * A new draft; its reward is judged by the risk rules first (a new account's cap: 403
 * NEW_ACCOUNT_LIMIT). Without `risk` (operator scripts seeding data) nothing is judged.
 */
export async function createBounty(db: DatabaseSession, posterId: string, input: NewBounty, now: Date, risk?: RiskSettings): Promise<Bounty> {
  const deadline = futureDeadline(input.deadline, now);
  if (risk) await judgeNewBounty(db, { settings: risk, userId: posterId, reward: input.reward.amount, currency: input.reward.currency, now });
  return db.transaction(async (tx) => {
    const [created] = await tx
      .insert(bounties)
      .values({
        posterId,
        title: input.title,
        description: input.description,
        criteria: criteriaOf(input.criteria),
        rewardAmount: input.reward.amount,
        currency: input.reward.currency,
        category: input.category,
        tags: [...new Set(input.tags)],
        remote: input.remote,
        ...locationColumns(input.remote, input.location),
        deadline,
        maxRevisions: input.maxRevisions,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    if (!created) throw new Error('insert into bounties returned no row');
    await recordEvents(tx, now, [bountyEvent('bounty.created', posterId, created.id, { posterId, amount: created.rewardAmount, currency: created.currency })]);
    return created;
  });
}

/**
 * A draft changes freely; an open bounty only in EDITABLE_WHEN_OPEN, and its deadline only
 * later (hunters applied to the first one). Anything else is 409 NOT_EDITABLE.
 */
export async function updateBounty(
  db: DatabaseSession,
  settings: MarketplaceSettings,
  actor: NonNullable<Viewer>,
  id: string,
  changes: BountyChangesInput,
  now: Date,
): Promise<Bounty> {
  return db.transaction(async (tx) => {
    const [bounty] = await tx.select().from(bounties).where(and(eq(bounties.id, id), eq(bounties.posterId, actor.id))).for('update');
    if (!bounty) throw BOUNTIES_ERRORS.error('BOUNTY_NOT_FOUND');
    const given = Object.keys(changes).filter((field) => changes[field as keyof BountyChangesInput] !== undefined);
    if (bounty.state === 'open') {
      const locked = given.filter((field) => !(EDITABLE_WHEN_OPEN as readonly string[]).includes(field));
      if (locked.length > 0) throw BOUNTIES_ERRORS.error('NOT_EDITABLE', `Once open, only ${EDITABLE_WHEN_OPEN.join(', ')} can change (not ${locked.join(', ')})`);
    } else if (bounty.state !== 'draft') {
      throw BOUNTIES_ERRORS.error('NOT_EDITABLE', `A bounty that is ${bounty.state} cannot be changed`);
    }
    const deadline = changes.deadline === undefined ? undefined : futureDeadline(changes.deadline, now);
    if (deadline && bounty.state === 'open' && deadline.getTime() <= bounty.deadline.getTime()) {
      throw BOUNTIES_ERRORS.error('NOT_EDITABLE', 'Once open, the deadline can only move later');
    }
    const remote = changes.remote ?? bounty.remote;
    const locationChanged = changes.remote !== undefined || changes.location !== undefined;
    if (locationChanged && !remote && !changes.location && bounty.latitude === null) {
      throw BOUNTIES_ERRORS.error('NOT_EDITABLE', 'An in-person bounty needs a location');
    }
    const [updated] = await tx
      .update(bounties)
      .set({
        ...(changes.title !== undefined ? { title: changes.title } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.criteria !== undefined ? { criteria: criteriaOf(changes.criteria) } : {}),
        ...(changes.reward !== undefined ? { rewardAmount: changes.reward.amount, currency: changes.reward.currency } : {}),
        ...(changes.category !== undefined ? { category: changes.category } : {}),
        ...(changes.tags !== undefined ? { tags: [...new Set(changes.tags)] } : {}),
        ...(changes.maxRevisions !== undefined ? { maxRevisions: changes.maxRevisions } : {}),
        ...(deadline ? { deadline } : {}),
        ...(locationChanged
          ? { remote, ...(changes.location === undefined && !remote ? {} : locationColumns(remote, changes.location)) }
          : {}),
        updatedAt: now,
      })
      .where(eq(bounties.id, bounty.id))
      .returning();
    if (!updated) throw new Error(`bounty ${bounty.id} vanished under its lock`);
    // A later deadline moves the expiry: the old timer no longer matches and does nothing.
    if (deadline && updated.state === 'open') {
      await rescheduleExpiry(tx, settings, updated, now);
      updated.nextDeadlineAt = timerDue('expire', deadline, settings);
      await tx.update(bounties).set({ nextDeadlineAt: updated.nextDeadlineAt }).where(eq(bounties.id, bounty.id));
    }
    return updated;
  });
}

/** A card payment for the bounty that may still succeed (and then open it). */
const paymentInFlight = (bountyId: SQL | string) =>
  sql`exists (select 1 from ${deposits} where ${deposits.bountyId} = ${bountyId}::text and ${deposits.status} in ('creating', 'requires_payment', 'processing'))`;

/**
 * Only the poster's own draft, and not while a card payment for it may still succeed (a declined
 * or cancelled one does not count). A draft has no history, requests or money yet.
 */
export async function deleteDraft(db: DatabaseSession, actor: NonNullable<Viewer>, id: string): Promise<boolean> {
  const deleted = await db.write((primary) =>
    primary
      .delete(bounties)
      .where(and(eq(bounties.id, id), eq(bounties.posterId, actor.id), eq(bounties.state, 'draft'), not(paymentInFlight(sql`${bounties.id}`))))
      .returning({ id: bounties.id }),
  );
  return deleted.length > 0;
}

/** Why a DELETE found nothing to delete: 404 when not visible, else 409 with the state. */
export async function deleteRefusal(db: DatabaseSession, actor: NonNullable<Viewer>, id: string) {
  const bounty = await findRow(db, id);
  if (!bounty || bounty.posterId !== actor.id) return BOUNTIES_ERRORS.error('BOUNTY_NOT_FOUND');
  if (bounty.state === 'draft') return BOUNTIES_ERRORS.error('FUNDING_PENDING', 'A card payment for this draft is in progress: cancel it instead');
  return BOUNTIES_ERRORS.error('NOT_EDITABLE', `A bounty that is ${bounty.state} cannot be deleted: cancel it`);
}

const findRow = async (db: DatabaseSession, id: string): Promise<Bounty | undefined> => {
  const [row] = await db.read((reader) => reader.select().from(bounties).where(eq(bounties.id, id)));
  return row;
};

/** The bounty if the viewer may see it (else null: a 404 either way). */
export async function findVisibleBounty(db: DatabaseSession, viewer: Viewer, id: string): Promise<Bounty | null> {
  const bounty = await findRow(db, id);
  if (!bounty) return null;
  return (await db.read((reader) => canSee(reader, bounty, viewer))) ? bounty : null;
}

/**
 * A bounty as its viewer sees it, with the transitions they may take now. What the two sides are
 * negotiating (a mutual-cancel split) is theirs: anyone else sees no proposal.
 */
export async function bountyView(db: DatabaseSession, viewer: Viewer, bounty: Bounty) {
  const facts = viewer ? await db.read((reader) => guardFacts(reader, bounty)) : { dispute: null };
  const view = toBountyView(bounty, allowedTransitions(bounty, viewer, facts));
  return isParticipant(bounty, viewer) ? view : { ...view, cancelProposal: null };
}

/**
 * The history, oldest first. Anyone who may see the bounty sees each step (what, from, to, who,
 * when); the reasons and details (a dispute's grounds, a proposed split) only the parties and
 * staff, as GET /bounties/:id/disputes.
 */
export async function history(db: DatabaseSession, bountyId: string, options: { limit: number; afterId: number | null; private: boolean }) {
  const rows = await db.read((reader) =>
    reader
      .select()
      .from(bountyTransitions)
      .where(and(eq(bountyTransitions.bountyId, bountyId), options.afterId !== null ? gt(bountyTransitions.id, options.afterId) : undefined))
      .orderBy(asc(bountyTransitions.id))
      .limit(options.limit + 1),
  );
  const shown = rows.slice(0, options.limit).map((row) => (options.private ? row : { ...row, reason: null, details: {} }));
  return { items: shown.map(toTransitionView), nextAfter: rows.length > options.limit ? (shown.at(-1)?.id ?? null) : null };
}

/** Submissions and disputes: only the two parties and staff see the work itself. */
export function isParticipant(bounty: Bounty, viewer: Viewer): boolean {
  return viewer !== null && (viewer.id === bounty.posterId || viewer.id === bounty.hunterId || viewer.role === 'admin' || viewer.role === 'moderator');
}

export async function submissionsOf(db: DatabaseSession, bountyId: string) {
  const rows = await db.read((reader) =>
    reader.select().from(bountySubmissions).where(eq(bountySubmissions.bountyId, bountyId)).orderBy(asc(bountySubmissions.createdAt), asc(bountySubmissions.id)).limit(100),
  );
  return rows.map(toSubmissionView);
}

export async function disputesOf(db: DatabaseSession, bountyId: string) {
  const rows = await db.read((reader) =>
    reader.select().from(bountyDisputes).where(eq(bountyDisputes.bountyId, bountyId)).orderBy(asc(bountyDisputes.createdAt)).limit(50),
  );
  return rows.map(toDisputeView);
}

/** The poster's own bounties (every state, drafts too), newest first: GET /bounties/mine. */
export async function ownBounties(db: DatabaseSession, posterId: string, options: { limit: number; cursor: KeysetCursor | null }) {
  const { cursor } = options;
  const rows = await db.read((reader) =>
    reader
      .select({ bounty: bounties, cursorAt: sql<string>`${bounties.createdAt}::text` })
      .from(bounties)
      .where(
        and(
          eq(bounties.posterId, posterId),
          cursor ? sql`(${bounties.createdAt}, ${bounties.id}) < (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
        ),
      )
      .orderBy(desc(bounties.createdAt), desc(bounties.id))
      .limit(options.limit + 1),
  );
  return keysetPage(rows, options.limit, (row) => toBountySummary(row.bounty), (row) => ({ t: row.cursorAt, i: row.bounty.id }));
}
