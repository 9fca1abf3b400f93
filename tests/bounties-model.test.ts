/**
 * A model-based test of the bounty lifecycle with its money (fast-check `asyncModelRun`): random
 * sequences of commands over a few bounties and five actors (a poster, two hunters with payouts
 * enabled, an admin, a stranger) run through the service functions against a database of their
 * own on the real primary, and against an in-memory model. The model takes only WHO may act and
 * FROM WHICH STATES from the lifecycle table (lifecycle.ts); everything else it predicts itself:
 * the rules' own conditions, the resulting state, the requests, the timers' effects and every
 * cent (its own fee rounding). After EVERY step:
 * - each bounty, its requests, its open dispute and its history (one row per successful
 *   transition, in order) are what the model says;
 * - each bounty's escrow holds its reward while open / in progress / submitted / changes
 *   requested / disputed and nothing in draft / completed / cancelled;
 * - each wallet is what the model says, and wallets + escrows + fees equal what was funded;
 * - checkLedger finds nothing wrong; no timer failed or was refused.
 * A refused command leaves every row as it was (state, money, history, timers, outbox).
 *
 * Commands mostly go to the party they are meant for and to a bounty in a state they start from
 * (steering: the choice of target, never the prediction), so short runs reach every state.
 *
 * A longer local run: BOUNTIES_MODEL_RUNS=300 BOUNTIES_MODEL_COMMANDS=40 (defaults 30 and 25);
 * BOUNTIES_MODEL_SEED replays a reported seed; BOUNTIES_MODEL_VERBOSE=1 prints which transitions
 * the runs made and each command's outcomes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { and, asc, inArray, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { MarketplaceSettings } from '../src/config/env';
import {
  applyMigrations,
  type BountyState,
  bounties,
  bountyDisputes,
  bountyRequests,
  bountyTimers,
  bountyTransitions,
  type CancelReason,
  connectAccounts,
  DatabaseCluster,
  type RequestCloseReason,
  type RequestStatus,
  selectRows,
} from '../src/db';
import { HttpError } from '../src/lib/errors';
import { createLogger, type Logger } from '../src/lib/logger';
import {
  acceptMutualCancel,
  adminCancel,
  approveWork,
  cancelBounty,
  declineMutualCancel,
  type LifecycleDeps,
  openDisputeOn,
  proposeMutualCancel,
  publishFromWallet,
  requestChanges,
  resolveDispute,
  respondToDispute,
  submitWork,
  unassignHunter,
  withdrawFromBounty,
} from '../src/modules/bounties/actions';
import { LIFECYCLE, type Party, type TransitionName } from '../src/modules/bounties/lifecycle';
import { createBounty } from '../src/modules/bounties/service';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { checkLedger, creditFromStripe } from '../src/modules/ledger';
import { acceptRequest, applyToBounty, rejectRequest, withdrawRequest } from '../src/modules/requests/service';
import { clusterEnv, hasCluster, testConfig, testClock, type TestClock, withDatabase } from './support/harness';
import { captureLogs, LOG_LEVELS, type LogLine } from './support/logs';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const NUM_RUNS = Number(process.env.BOUNTIES_MODEL_RUNS ?? 30);
const MAX_COMMANDS = Number(process.env.BOUNTIES_MODEL_COMMANDS ?? 25);
const SEED = process.env.BOUNTIES_MODEL_SEED === undefined ? undefined : Number(process.env.BOUNTIES_MODEL_SEED);
const MAX_BOUNTIES = 4;
const CRITERIA = ['Does what the title says', 'Comes with a short write-up', 'No regressions'];
/** Every run starts here: a fixed clock makes a failing sequence replay exactly. */
const BASE = Date.UTC(2031, 0, 6, 9, 0, 0);
/** Past every timer any run can start: flushed before each run so runs never touch each other. */
const FAR_FUTURE = new Date(Date.UTC(2131, 0, 1));

// --- The model ---------------------------------------------------------------------------------------

const ACTORS = ['poster', 'hunter1', 'hunter2', 'admin', 'stranger'] as const;
type ActorKey = (typeof ACTORS)[number];
/** Who a command is sent by, relative to the bounty (resolved when it runs). */
type Who = 'poster' | 'hunter' | 'otherHunter' | 'admin' | 'stranger';
/** Payouts enabled (a connect account as the Connect webhook leaves it). */
const ONBOARDED: readonly ActorKey[] = ['hunter1', 'hunter2'];

type MBounty = {
  id: string;
  reward: number;
  deadline: number;
  maxRevisions: number;
  state: BountyState;
  cancelReason: CancelReason | null;
  hunter: ActorKey | null;
  revisionsUsed: number;
  submissionsSinceAccept: number;
  lastSubmittedAt: number | null;
  proposal: { by: ActorKey; amount: number; expiresAt: number } | null;
  dispute: { by: 'poster' | 'hunter'; answered: boolean; escalated: boolean; createdAt: number } | null;
  /** Each successful transition, in order, as `action from->to by actor as role`: the history must be exactly this. */
  history: string[];
  escrow: number;
};
type MRequest = { id: string; bounty: number; hunter: ActorKey; status: RequestStatus; closedReason: RequestCloseReason | null };
type Model = {
  now: number;
  bounties: MBounty[];
  requests: MRequest[];
  wallet: Record<ActorKey, number>;
  fees: number;
  funded: number;
};
type Real = {
  database: DatabaseCluster;
  deps: LifecycleDeps;
  clock: TestClock;
  ids: Record<ActorKey, string>;
  /** What the timers log: an error there is a timer that failed. */
  logger: Logger;
  logs: LogLine[];
};

const ACTIVE: readonly BountyState[] = ['open', 'in_progress', 'submitted', 'changes_requested', 'disputed'];
const TERMINAL: readonly BountyState[] = ['completed', 'cancelled'];
/** Drafts and cancelled bounties are seen only by staff, their poster, hunter and applicants. */
const SEEN_BY_ANYONE: readonly BountyState[] = ['open', 'in_progress', 'submitted', 'changes_requested', 'disputed', 'completed'];

/** The model's own fee: 10 % (PLATFORM_FEE_BPS 1000), half up. */
const feeOn = (amount: number, bps: number): number => Math.round((amount * bps) / 10_000);

function resolveWho(who: Who, bounty: MBounty | undefined): ActorKey {
  switch (who) {
    case 'hunter':
      return bounty?.hunter ?? 'hunter1';
    case 'otherHunter':
      return bounty?.hunter === 'hunter2' ? 'hunter1' : 'hunter2';
    default:
      return who;
  }
}

function canSee(model: Model, index: number, actor: ActorKey): boolean {
  const bounty = model.bounties[index];
  if (!bounty) return false;
  if (SEEN_BY_ANYONE.includes(bounty.state) || actor === 'admin' || actor === 'poster' || bounty.hunter === actor) return true;
  return model.requests.some((request) => request.bounty === index && request.hunter === actor);
}

function partiesOf(bounty: MBounty, actor: ActorKey): Party[] {
  const parties: Party[] = [];
  if (actor === 'poster') parties.push('poster');
  if (bounty.hunter === actor) parties.push('hunter');
  if (actor === 'admin') parties.push('admin');
  return parties;
}

/**
 * Why the engine refuses `name` by `actor`, or null. The table gives who and from where; the
 * order (hidden, no part at all, state, actor, the rule's own condition) and the conditions are
 * the model's.
 */
function refusalOf(model: Model, index: number, name: TransitionName, actor: ActorKey): string | null {
  const bounty = model.bounties[index];
  if (!bounty || !canSee(model, index, actor)) return 'BOUNTY_NOT_FOUND';
  const parties = partiesOf(bounty, actor);
  if (parties.length === 0) return 'NOT_YOUR_TRANSITION';
  const rule = LIFECYCLE[name];
  if (!(rule.from as readonly BountyState[]).includes(bounty.state)) return 'INVALID_TRANSITION';
  const party = (rule.by as readonly Party[]).find((candidate) => parties.includes(candidate));
  if (!party) return 'NOT_YOUR_TRANSITION';
  switch (name) {
    case 'unassign':
      return bounty.submissionsSinceAccept > 0 ? 'TRANSITION_REFUSED' : null;
    case 'request_changes':
      return bounty.revisionsUsed >= bounty.maxRevisions ? 'TRANSITION_REFUSED' : null;
    case 'respond_dispute':
      if (!bounty.dispute || bounty.dispute.answered) return 'TRANSITION_REFUSED';
      return bounty.dispute.by === party ? 'NOT_YOUR_TRANSITION' : null;
    case 'propose_cancel':
      return bounty.proposal ? 'TRANSITION_REFUSED' : null;
    case 'accept_cancel':
      if (!bounty.proposal) return 'TRANSITION_REFUSED';
      return bounty.proposal.by === actor ? 'NOT_YOUR_TRANSITION' : null;
    case 'decline_cancel':
      return bounty.proposal ? null : 'TRANSITION_REFUSED';
    default:
      return null;
  }
}

/** Who acts next, from the spec: the poster picks and reviews, the hunter works, an admin rules. */
function nextActionBy(bounty: MBounty): string {
  switch (bounty.state) {
    case 'draft':
    case 'open':
    case 'submitted':
      return 'poster';
    case 'in_progress':
    case 'changes_requested':
      return 'hunter';
    case 'disputed':
      if (!bounty.dispute || bounty.dispute.answered || bounty.dispute.escalated) return 'admin';
      return bounty.dispute.by === 'poster' ? 'hunter' : 'poster';
    default:
      return 'none';
  }
}

/** By when the next step is due: the expiry, the hunter's deadline, auto-approval, a dispute's answer. */
function nextDeadlineAt(bounty: MBounty, settings: MarketplaceSettings): number | null {
  switch (bounty.state) {
    case 'open':
      return bounty.deadline + settings.expiryGraceHours * HOUR_MS;
    case 'in_progress':
    case 'changes_requested':
      return bounty.deadline;
    case 'submitted':
      return bounty.lastSubmittedAt === null ? null : bounty.lastSubmittedAt + settings.autoApproveDays * DAY_MS;
    case 'disputed':
      if (!bounty.dispute || bounty.dispute.answered || bounty.dispute.escalated) return null;
      return bounty.dispute.createdAt + settings.disputeResponseDays * DAY_MS;
    default:
      return null;
  }
}

// Money, as the model sees it.
const credit = (model: Model, actor: ActorKey, amount: number) => {
  model.wallet[actor] += amount;
};
function refund(model: Model, bounty: MBounty): void {
  credit(model, 'poster', bounty.escrow);
  bounty.escrow = 0;
}
function payHunter(model: Model, bounty: MBounty, hunterAmount: number, bps: number): void {
  const hunter = bounty.hunter;
  if (!hunter) throw new Error('model: paying a bounty without a hunter');
  const fee = feeOn(hunterAmount, bps);
  credit(model, hunter, hunterAmount - fee);
  model.fees += fee;
  credit(model, 'poster', bounty.escrow - hunterAmount);
  bounty.escrow = 0;
}

function closeRequests(model: Model, index: number, from: readonly RequestStatus[], status: RequestStatus, reason: RequestCloseReason | null): void {
  for (const request of model.requests) {
    if (request.bounty === index && from.includes(request.status)) Object.assign(request, { status, closedReason: reason });
  }
}

function finish(bounty: MBounty, state: 'completed' | 'cancelled', reason: CancelReason | null): void {
  bounty.state = state;
  bounty.cancelReason = reason;
  bounty.proposal = null;
}

/** One history row: what happened, from where to where, by whom in which role (a timer: the system). */
function record(bounty: MBounty, action: string, from: BountyState, actor: ActorKey | 'system', role: Party): void {
  bounty.history.push(`${action} ${from}->${bounty.state} by ${actor} as ${role}`);
  const key = `${action} ${from}->${bounty.state}`;
  covered.set(key, (covered.get(key) ?? 0) + 1);
}

/** Which transitions the runs made, from where to where (printed with BOUNTIES_MODEL_VERBOSE=1). */
const covered = new Map<string, number>();
/** Each command's outcomes (printed with BOUNTIES_MODEL_VERBOSE=1). */
const outcomes = new Map<string, number>();

function reopen(bounty: MBounty): void {
  Object.assign(bounty, { state: 'open', hunter: null, revisionsUsed: 0, submissionsSinceAccept: 0, lastSubmittedAt: null, proposal: null });
}

/**
 * The timers, as the spec says: each fires once due and only if the bounty is still where it
 * was (expiry of an open bounty at deadline + grace; auto-approval N days after the LAST
 * submission; escalation of an unanswered dispute; a proposal nobody accepted lapses). One
 * bounty's due events fire in the order they fell due.
 */
function fireModelTimers(model: Model, settings: MarketplaceSettings): void {
  for (const [index, bounty] of model.bounties.entries()) {
    for (;;) {
      const from = bounty.state;
      const due: Array<{ at: number; fire: () => void }> = [];
      if (bounty.state === 'open') {
        due.push({
          at: bounty.deadline + settings.expiryGraceHours * HOUR_MS,
          fire: () => {
            refund(model, bounty);
            closeRequests(model, index, ['pending'], 'rejected', 'closed');
            finish(bounty, 'cancelled', 'expired');
            record(bounty, 'expire', from, 'system', 'system');
          },
        });
      }
      if (bounty.state === 'submitted' && bounty.lastSubmittedAt !== null) {
        due.push({
          at: bounty.lastSubmittedAt + settings.autoApproveDays * DAY_MS,
          fire: () => {
            payHunter(model, bounty, bounty.reward, settings.platformFeeBps);
            closeRequests(model, index, ['accepted'], 'completed', null);
            finish(bounty, 'completed', null);
            record(bounty, 'auto_approve', from, 'system', 'system');
          },
        });
      }
      const dispute = bounty.dispute;
      if (bounty.state === 'disputed' && dispute && !dispute.answered && !dispute.escalated) {
        due.push({
          at: dispute.createdAt + settings.disputeResponseDays * DAY_MS,
          fire: () => {
            dispute.escalated = true;
            record(bounty, 'escalate_dispute', from, 'system', 'system');
          },
        });
      }
      if (bounty.proposal) {
        due.push({
          at: bounty.proposal.expiresAt,
          fire: () => {
            bounty.proposal = null;
            record(bounty, 'expire_cancel_proposal', from, 'system', 'system');
          },
        });
      }
      const next = due.filter((event) => event.at <= model.now).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      next.fire();
    }
  }
}

// --- Running commands --------------------------------------------------------------------------------

const codeOf = (error: unknown): string => (error instanceof HttpError ? error.code : `unexpected: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
const attempt = <T>(work: Promise<T>): Promise<{ outcome: string; value?: T }> =>
  work.then(
    (value) => ({ outcome: 'ok', value }),
    (error: unknown) => ({ outcome: codeOf(error) }),
  );

const actorOf = (real: Real, key: ActorKey) => ({ id: real.ids[key], role: key === 'admin' ? ('admin' as const) : ('user' as const) });

/** Every command starts one second after the last: no two steps share a moment (nor a timer's tie). */
function tick(model: Model, real: Real): Date {
  model.now += 1_000;
  real.clock.set(new Date(model.now));
  return new Date(model.now);
}

const pick = <T>(items: readonly T[], index: number): [T, number] | undefined => {
  if (items.length === 0) return undefined;
  const at = index % items.length;
  const item = items[at];
  return item === undefined ? undefined : [item, at];
};

/**
 * The bounty a command is about. Steered (most commands are), it is one in a state the command
 * starts from, when there is one: random sequences then get past the first steps. Steering only
 * chooses the target; whether the command is allowed is still the model's own prediction.
 */
function targetBounty(model: Model, index: number, steerTo: readonly BountyState[] | null): [MBounty, number] {
  const candidates = steerTo ? [...model.bounties.entries()].filter(([, bounty]) => steerTo.includes(bounty.state)) : [];
  const chosen = candidates.length > 0 ? candidates[index % candidates.length] : undefined;
  const found = chosen ? ([chosen[1], chosen[0]] as [MBounty, number]) : pick(model.bounties, index);
  if (!found) throw new Error('model: no bounty to act on');
  return found;
}

/** Every row a refused command could have touched, to compare before and after it. */
async function snapshot(model: Model, real: Real) {
  const bountyIds = model.bounties.map((bounty) => bounty.id);
  const [counts] = await selectRows(
    real.database.primary,
    sql`select (select count(*) from ledger_transactions)::int as transactions, (select count(*) from ledger_entries)::int as entries,
               (select count(*) from bounty_transitions)::int as history, (select count(*) from bounty_submissions)::int as submissions,
               (select count(*) from bounty_disputes)::int as disputes, (select count(*) from bounty_timers)::int as timers,
               (select count(*) from outbox_events)::int as outbox, (select count(*) from bounty_requests)::int as requests,
               (select count(*) from bounties)::int as bounties`,
    z.object({ transactions: z.number(), entries: z.number(), history: z.number(), submissions: z.number(), disputes: z.number(), timers: z.number(), outbox: z.number(), requests: z.number(), bounties: z.number() }),
  );
  if (bountyIds.length === 0) return { counts, rows: [], requests: [], disputes: [] };
  const primary = real.database.primary;
  return {
    counts,
    rows: await primary.select().from(bounties).where(inArray(bounties.id, bountyIds)).orderBy(asc(bounties.id)),
    requests: await primary.select().from(bountyRequests).where(inArray(bountyRequests.bountyId, bountyIds)).orderBy(asc(bountyRequests.id)),
    disputes: await primary.select().from(bountyDisputes).where(inArray(bountyDisputes.bountyId, bountyIds)).orderBy(asc(bountyDisputes.id)),
  };
}

const balanceRow = z.object({ owner_type: z.string(), owner_id: z.string(), kind: z.string(), balance: z.coerce.number() });

/** Everything the model predicts, read back from the database. */
async function assertInvariants(model: Model, real: Real): Promise<void> {
  const primary = real.database.primary;
  const bountyIds = model.bounties.map((bounty) => bounty.id);
  const actorIds = ACTORS.map((actor) => real.ids[actor]);
  const idOf = (actor: ActorKey | null) => (actor === null ? null : real.ids[actor]);
  const keyOf = new Map(ACTORS.map((actor) => [real.ids[actor], actor]));

  if (bountyIds.length > 0) {
    const rows = await primary.select().from(bounties).where(inArray(bounties.id, bountyIds));
    const openDisputes = await primary
      .select()
      .from(bountyDisputes)
      .where(and(inArray(bountyDisputes.bountyId, bountyIds), isNull(bountyDisputes.resolvedAt)));
    const history = await primary
      .select({
        bountyId: bountyTransitions.bountyId,
        action: bountyTransitions.action,
        from: bountyTransitions.fromState,
        to: bountyTransitions.toState,
        actorId: bountyTransitions.actorId,
        role: bountyTransitions.actorRole,
      })
      .from(bountyTransitions)
      .where(inArray(bountyTransitions.bountyId, bountyIds))
      .orderBy(asc(bountyTransitions.id));
    const requests = await primary.select().from(bountyRequests).where(inArray(bountyRequests.bountyId, bountyIds));
    for (const bounty of model.bounties) {
      const row = rows.find((candidate) => candidate.id === bounty.id);
      const actual: Record<string, unknown> = {
        state: row?.state,
        cancelReason: row?.cancelReason,
        hunterId: row?.hunterId,
        revisionsUsed: row?.revisionsUsed,
        lastSubmittedAt: row?.lastSubmittedAt?.getTime() ?? null,
        proposal: row?.cancelProposedBy ? { by: row.cancelProposedBy, amount: row.cancelProposalHunterAmount, expiresAt: row.cancelProposalExpiresAt?.getTime() } : null,
        closed: row?.closedAt !== null,
        nextActionBy: row?.nextActionBy,
        nextDeadlineAt: row?.nextDeadlineAt?.getTime() ?? null,
        history: history
          .filter((entry) => entry.bountyId === bounty.id)
          .map((entry) => `${entry.action} ${entry.from}->${entry.to} by ${entry.actorId === null ? 'system' : (keyOf.get(entry.actorId) ?? entry.actorId)} as ${entry.role}`),
      };
      expect(actual).toEqual({
        state: bounty.state,
        cancelReason: bounty.cancelReason,
        hunterId: idOf(bounty.hunter),
        revisionsUsed: bounty.revisionsUsed,
        lastSubmittedAt: bounty.lastSubmittedAt,
        proposal: bounty.proposal ? { by: real.ids[bounty.proposal.by], amount: bounty.proposal.amount, expiresAt: bounty.proposal.expiresAt } : null,
        closed: TERMINAL.includes(bounty.state),
        nextActionBy: nextActionBy(bounty),
        nextDeadlineAt: nextDeadlineAt(bounty, real.deps.marketplace.settings),
        history: bounty.history,
      });
      // The bounty's version counts its transitions.
      expect(row?.version).toBe(bounty.history.length);
      // A dispute is open exactly while the bounty is disputed: every way out of `disputed` settles it.
      const open = openDisputes.filter((candidate) => candidate.bountyId === bounty.id);
      expect({
        state: bounty.state,
        openDisputes: open.map((dispute) => ({ by: dispute.openedByRole, answered: dispute.respondedAt !== null, escalated: dispute.escalatedAt !== null, createdAt: dispute.createdAt.getTime() })),
      }).toEqual({ state: bounty.state, openDisputes: bounty.dispute ? [bounty.dispute] : [] });
    }
    const byId = new Map(requests.map((request) => [request.id, request]));
    expect(requests).toHaveLength(model.requests.length);
    for (const request of model.requests) {
      const row = byId.get(request.id);
      expect({ hunterId: row?.hunterId, status: row?.status, closedReason: row?.closedReason }).toEqual({
        hunterId: real.ids[request.hunter],
        status: request.status,
        closedReason: request.closedReason,
      });
    }
    // No timer of these bounties failed (it would be retried) or was refused by the lifecycle.
    const refused = await primary
      .select({ kind: bountyTimers.kind, outcome: bountyTimers.outcome })
      .from(bountyTimers)
      .where(and(inArray(bountyTimers.bountyId, bountyIds), sql`${bountyTimers.outcome} like 'refused%'`));
    expect(refused).toEqual([]);
  }
  expect(real.logs.filter((line) => line.level >= LOG_LEVELS.error)).toEqual([]);

  // Money: every account of this run's actors and bounties, and the fees its bounties paid.
  const balances = await selectRows(
    primary,
    sql`select owner_type, owner_id, kind, balance from ledger_accounts
        where (owner_type = 'user' and owner_id in ${actorIds}) ${bountyIds.length > 0 ? sql`or (owner_type = 'bounty' and owner_id in ${bountyIds})` : sql``}`,
    balanceRow,
  );
  const balance = (ownerType: string, ownerId: string, kind: string) =>
    balances.find((row) => row.owner_type === ownerType && row.owner_id === ownerId && row.kind === kind)?.balance ?? 0;
  for (const actor of ACTORS) {
    expect({ actor, available: balance('user', real.ids[actor], 'available') }).toEqual({ actor, available: model.wallet[actor] });
    expect(balance('user', real.ids[actor], 'withdrawal_hold')).toBe(0);
    expect(balance('user', real.ids[actor], 'receivable')).toBe(0);
  }
  for (const bounty of model.bounties) {
    const escrow = balance('bounty', bounty.id, 'escrow');
    // Invariant 5, stated from the state alone: the reward while active, nothing otherwise.
    expect({ state: bounty.state, escrow }).toEqual({ state: bounty.state, escrow: ACTIVE.includes(bounty.state) ? bounty.reward : 0 });
    expect(escrow).toBe(bounty.escrow);
  }
  let fees = 0;
  if (bountyIds.length > 0) {
    const [row] = await selectRows(
      primary,
      sql`select coalesce(sum(e.amount), 0) as fees from ledger_entries e
          join ledger_accounts a on a.id = e.account_id join ledger_transactions t on t.id = e.transaction_id
          where a.owner_type = 'platform' and a.kind = 'fees' and t.reference_id in ${bountyIds}`,
      z.object({ fees: z.coerce.number() }),
    );
    fees = row?.fees ?? 0;
  }
  expect(fees).toBe(model.fees);
  const inWallets = balances.filter((row) => row.owner_type === 'user').reduce((sum, row) => sum + row.balance, 0);
  const inEscrow = balances.filter((row) => row.owner_type === 'bounty').reduce((sum, row) => sum + row.balance, 0);
  // Conservation: nothing is made or lost between the funding and where it is now.
  expect(inWallets + inEscrow + fees).toBe(model.funded);
  expect(await checkLedger(primary)).toEqual({ balanceMismatches: [], unbalancedTransactions: [] });
}

/** A command that may be refused: the outcome must be the model's, and a refusal changes nothing. */
abstract class Step implements fc.AsyncCommand<Model, Real> {
  abstract check(model: Readonly<Model>): boolean;
  /** The model's prediction: a refusal code, or what to change in the model when it succeeds. */
  abstract predict(model: Model, real: Real): { refused: string } | { apply: (value: unknown) => void };
  abstract perform(model: Model, real: Real): Promise<unknown>;
  abstract toString(): string;

  async run(model: Model, real: Real): Promise<void> {
    tick(model, real);
    const expected = this.predict(model, real);
    const before = await snapshot(model, real);
    const { outcome, value } = await attempt(this.perform(model, real));
    const counted = `${this.toString().split('(')[0]} -> ${outcome.startsWith('unexpected') ? 'unexpected' : outcome}`;
    outcomes.set(counted, (outcomes.get(counted) ?? 0) + 1);
    expect(`${this.toString()} -> ${outcome}`).toBe(`${this.toString()} -> ${'refused' in expected ? expected.refused : 'ok'}`);
    if ('refused' in expected) {
      expect(await snapshot(model, real)).toEqual(before);
    } else {
      expected.apply(value);
    }
  }
}

class Deposit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly amount: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    tick(model, real);
    const key = `model:deposit:${crypto.randomUUID()}`;
    await real.database.primary.transaction((tx) =>
      creditFromStripe(tx, { userId: real.ids.poster, amount: this.amount, currency: 'usd', effectKey: key, description: 'model deposit', reference: { type: 'model', id: key } }),
    );
    credit(model, 'poster', this.amount);
    model.funded += this.amount;
  }
  toString = () => `deposit(${this.amount})`;
}

/** A draft (always allowed), published at once by its poster when `publish`. */
class Create implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly reward: number,
    readonly deadlineDays: number,
    readonly maxRevisions: number,
    readonly publish: boolean,
  ) {}
  check = (model: Readonly<Model>) => model.bounties.length < MAX_BOUNTIES;
  async run(model: Model, real: Real) {
    const now = tick(model, real);
    const draft = await createBounty(
      real.deps.db,
      real.ids.poster,
      {
        title: `Model bounty ${model.bounties.length + 1}`,
        description: 'A bounty made by the model-based test of the lifecycle.',
        criteria: CRITERIA,
        reward: { amount: this.reward, currency: 'usd' },
        category: 'development',
        tags: ['model'],
        remote: true,
        deadline: new Date(now.getTime() + this.deadlineDays * DAY_MS).toISOString(),
        maxRevisions: this.maxRevisions,
      },
      now,
    );
    model.bounties.push({
      id: draft.id,
      reward: this.reward,
      deadline: draft.deadline.getTime(),
      maxRevisions: this.maxRevisions,
      state: 'draft',
      cancelReason: null,
      hunter: null,
      revisionsUsed: 0,
      submissionsSinceAccept: 0,
      lastSubmittedAt: null,
      proposal: null,
      dispute: null,
      history: [],
      escrow: 0,
    });
    if (this.publish) await new Publish('poster', model.bounties.length - 1, false).run(model, real);
  }
  toString = () => `create(${this.reward}, ${this.deadlineDays}d, ${this.maxRevisions} revisions${this.publish ? ', publish' : ''})`;
}

/** One lifecycle transition through its action (actions.ts), by someone, on a bounty. */
class Transition extends Step {
  constructor(
    readonly name: Exclude<TransitionName, 'publish' | 'accept' | 'expire' | 'auto_approve' | 'escalate_dispute' | 'expire_cancel_proposal'>,
    readonly who: Who,
    readonly index: number,
    /** A percentage for splits and proposals (over 100: more than the reward); for criteria, 0 cites an unknown one. */
    readonly arg: number,
    readonly steer: boolean,
    readonly outcome: 'release' | 'refund' | 'split' = 'release',
  ) {
    super();
  }
  check = (model: Readonly<Model>) => model.bounties.length > 0;
  private target(model: Model) {
    const [bounty, index] = targetBounty(model, this.index, this.steer ? LIFECYCLE[this.name].from : null);
    return { bounty, index, actor: resolveWho(this.who, bounty) };
  }
  private share(bounty: MBounty): number {
    return this.arg > 100 ? bounty.reward + 1 : Math.floor((bounty.reward * this.arg) / 100);
  }
  private criteria(): number[] {
    return this.arg === 0 ? [1, CRITERIA.length + 1] : [1 + (this.arg % CRITERIA.length)];
  }

  predict(model: Model, real: Real) {
    const { bounty, index, actor } = this.target(model);
    const refused = refusalOf(model, index, this.name, actor);
    if (refused) return { refused };
    const bps = real.deps.marketplace.settings.platformFeeBps;
    const now = model.now;
    const from = bounty.state;
    const role = (LIFECYCLE[this.name].by as readonly Party[]).find((candidate) => partiesOf(bounty, actor).includes(candidate)) ?? 'system';
    const done = (apply: () => void) => ({
      apply: () => {
        apply();
        record(bounty, this.name, from, actor, role);
      },
    });
    switch (this.name) {
      case 'cancel':
        return done(() => {
          refund(model, bounty);
          closeRequests(model, index, ['pending'], 'rejected', 'closed');
          finish(bounty, 'cancelled', 'poster');
        });
      case 'withdraw':
        return done(() => {
          closeRequests(model, index, ['accepted'], 'withdrawn', 'hunter');
          reopen(bounty);
        });
      case 'unassign':
        return done(() => {
          closeRequests(model, index, ['accepted'], 'rejected', 'unassigned');
          reopen(bounty);
        });
      case 'submit':
        return done(() => {
          bounty.state = 'submitted';
          bounty.lastSubmittedAt = now;
          bounty.submissionsSinceAccept += 1;
        });
      case 'request_changes':
        if (this.arg === 0) return { refused: 'UNKNOWN_CRITERIA' };
        return done(() => {
          bounty.state = 'changes_requested';
          bounty.revisionsUsed += 1;
        });
      case 'approve':
        return done(() => {
          payHunter(model, bounty, bounty.reward, bps);
          closeRequests(model, index, ['accepted'], 'completed', null);
          finish(bounty, 'completed', null);
        });
      case 'dispute':
        if (this.arg === 0) return { refused: 'UNKNOWN_CRITERIA' };
        return done(() => {
          bounty.state = 'disputed';
          bounty.dispute = { by: actor === 'poster' ? 'poster' : 'hunter', answered: false, escalated: false, createdAt: now };
        });
      case 'respond_dispute':
        return done(() => {
          if (bounty.dispute) bounty.dispute.answered = true;
        });
      case 'resolve': {
        if (this.outcome === 'split' && this.share(bounty) > bounty.reward) return { refused: 'INVALID_SPLIT' };
        const toHunter = this.outcome === 'release' ? bounty.reward : this.outcome === 'refund' ? 0 : this.share(bounty);
        return done(() => {
          payHunter(model, bounty, toHunter, bps);
          closeRequests(model, index, ['accepted'], this.outcome === 'release' ? 'completed' : 'rejected', this.outcome === 'release' ? null : 'closed');
          bounty.dispute = null;
          if (this.outcome === 'release') finish(bounty, 'completed', null);
          else finish(bounty, 'cancelled', 'dispute');
        });
      }
      case 'propose_cancel':
        if (this.share(bounty) > bounty.reward) return { refused: 'INVALID_SPLIT' };
        return done(() => {
          bounty.proposal = { by: actor, amount: this.share(bounty), expiresAt: now + real.deps.marketplace.settings.mutualCancelHours * HOUR_MS };
        });
      case 'accept_cancel':
        return done(() => {
          payHunter(model, bounty, bounty.proposal?.amount ?? 0, bps);
          closeRequests(model, index, ['accepted'], 'rejected', 'closed');
          bounty.dispute = null;
          finish(bounty, 'cancelled', 'mutual');
        });
      case 'decline_cancel':
        return done(() => {
          bounty.proposal = null;
        });
      case 'admin_cancel':
        return done(() => {
          refund(model, bounty);
          closeRequests(model, index, ['pending', 'accepted'], 'rejected', 'closed');
          bounty.dispute = null;
          finish(bounty, 'cancelled', 'admin');
        });
    }
  }

  perform(model: Model, real: Real): Promise<unknown> {
    const { bounty, actor } = this.target(model);
    const deps = real.deps;
    const who = actorOf(real, actor);
    const id = bounty.id;
    switch (this.name) {
      case 'cancel':
        return cancelBounty(deps, who, id);
      case 'withdraw':
        return withdrawFromBounty(deps, who, id, 'Something came up');
      case 'unassign':
        return unassignHunter(deps, who, id, 'No news from the hunter');
      case 'submit':
        return submitWork(deps, who, id, { message: 'Here it is', links: ['https://example.com/work/1'] });
      case 'request_changes':
        return requestChanges(deps, who, id, { message: 'Not quite', criteria: this.criteria() });
      case 'approve':
        return approveWork(deps, who, id);
      case 'dispute':
        return openDisputeOn(deps, who, id, { reason: 'This is not what was asked', criteria: this.criteria() });
      case 'respond_dispute':
        return respondToDispute(deps, who, id, { message: 'It is, see criterion 1' });
      case 'resolve':
        return resolveDispute(deps, who, id, {
          outcome: this.outcome,
          hunterAmount: this.outcome === 'split' ? this.share(bounty) : undefined,
          reason: 'Ruled on the evidence',
        });
      case 'propose_cancel':
        return proposeMutualCancel(deps, who, id, { hunterAmount: this.share(bounty), reason: null });
      case 'accept_cancel':
        return acceptMutualCancel(deps, who, id);
      case 'decline_cancel':
        return declineMutualCancel(deps, who, id);
      case 'admin_cancel':
        return adminCancel(deps, who, id, 'Against the rules');
    }
  }
  toString = () => `${this.name}${this.name === 'resolve' ? `:${this.outcome}` : ''}(${this.who}, ${this.steer ? 'steered ' : ''}bounty ${this.index}, ${this.arg})`;
}

class Publish extends Step {
  constructor(
    readonly who: Who,
    readonly index: number,
    readonly steer: boolean,
  ) {
    super();
  }
  check = (model: Readonly<Model>) => model.bounties.length > 0;
  predict(model: Model) {
    const [bounty, index] = targetBounty(model, this.index, this.steer ? ['draft'] : null);
    const refused = refusalOf(model, index, 'publish', resolveWho(this.who, bounty));
    if (refused) return { refused };
    if (bounty.deadline <= model.now) return { refused: 'DEADLINE_PASSED' };
    if (model.wallet.poster < bounty.reward) return { refused: 'INSUFFICIENT_FUNDS' };
    return {
      apply: () => {
        model.wallet.poster -= bounty.reward;
        bounty.escrow = bounty.reward;
        bounty.state = 'open';
        record(bounty, 'publish', 'draft', 'poster', 'poster');
      },
    };
  }
  perform(model: Model, real: Real) {
    const [bounty] = targetBounty(model, this.index, this.steer ? ['draft'] : null);
    return publishFromWallet(real.deps, actorOf(real, resolveWho(this.who, bounty)), bounty.id);
  }
  toString = () => `publish(${this.who}, ${this.steer ? 'steered ' : ''}bounty ${this.index})`;
}

class Apply extends Step {
  constructor(
    readonly actor: ActorKey,
    readonly index: number,
    readonly steer: boolean,
  ) {
    super();
  }
  check = (model: Readonly<Model>) => model.bounties.length > 0;
  predict(model: Model) {
    const [bounty, index] = targetBounty(model, this.index, this.steer ? ['open'] : null);
    if (!canSee(model, index, this.actor)) return { refused: 'BOUNTY_NOT_FOUND' };
    if (this.actor === 'poster') return { refused: 'OWN_BOUNTY' };
    if (bounty.state !== 'open') return { refused: 'BOUNTY_NOT_OPEN' };
    const earlier = model.requests.filter((request) => request.bounty === index && request.hunter === this.actor);
    if (earlier.some((request) => request.status === 'pending' || request.status === 'accepted')) return { refused: 'ALREADY_REQUESTED' };
    // Turned down by the poster, or removed from this bounty: not again.
    if (earlier.some((request) => request.closedReason === 'poster' || request.closedReason === 'unassigned')) return { refused: 'REAPPLY_REFUSED' };
    return {
      apply: (value: unknown) => {
        const { id } = z.object({ id: z.string() }).parse(value);
        model.requests.push({ id, bounty: index, hunter: this.actor, status: 'pending', closedReason: null });
      },
    };
  }
  perform(model: Model, real: Real) {
    const [bounty] = targetBounty(model, this.index, this.steer ? ['open'] : null);
    return applyToBounty(real.deps.db, real.deps.marketplace, actorOf(real, this.actor), bounty.id, { message: 'I can do this' }, new Date(model.now));
  }
  toString = () => `apply(${this.actor}, ${this.steer ? 'steered ' : ''}bounty ${this.index})`;
}

/** accept / reject (the poster's) and withdraw (the hunter's) of a request. */
class Answer extends Step {
  constructor(
    readonly how: 'accept' | 'reject' | 'withdrawRequest',
    readonly who: Who,
    readonly index: number,
    readonly steer: boolean,
  ) {
    super();
  }
  check = (model: Readonly<Model>) => model.requests.length > 0;
  private target(model: Model) {
    // Steered: a pending request, when there is one.
    const pending = model.requests.filter((candidate) => candidate.status === 'pending');
    const [request] = pick(this.steer && pending.length > 0 ? pending : model.requests, this.index) ?? [];
    if (!request) throw new Error('model: no request to answer');
    // "hunter" is the request's own hunter here.
    const actor = this.who === 'hunter' ? request.hunter : this.who === 'otherHunter' ? (request.hunter === 'hunter2' ? 'hunter1' : 'hunter2') : this.who;
    return { request, actor };
  }
  predict(model: Model) {
    const { request, actor } = this.target(model);
    const visible = request.hunter === actor || actor === 'poster' || actor === 'admin';
    if (this.how === 'withdrawRequest') {
      if (request.hunter === actor && request.status === 'pending') return { apply: () => Object.assign(request, { status: 'withdrawn', closedReason: 'hunter' }) };
      return { refused: !visible ? 'REQUEST_NOT_FOUND' : request.hunter !== actor ? 'NOT_YOUR_REQUEST' : 'REQUEST_NOT_PENDING' };
    }
    if (this.how === 'reject') {
      if (actor === 'poster' && request.status === 'pending') return { apply: () => Object.assign(request, { status: 'rejected', closedReason: 'poster' }) };
      return { refused: !visible ? 'REQUEST_NOT_FOUND' : actor !== 'poster' ? 'NOT_THE_POSTER' : 'REQUEST_NOT_PENDING' };
    }
    if (!visible) return { refused: 'REQUEST_NOT_FOUND' };
    const refused = refusalOf(model, request.bounty, 'accept', actor);
    if (refused) return { refused };
    if (request.status !== 'pending') return { refused: 'REQUEST_NOT_PENDING' };
    if (!ONBOARDED.includes(request.hunter)) return { refused: 'HUNTER_CANNOT_BE_PAID' };
    const bounty = model.bounties[request.bounty];
    return {
      apply: () => {
        if (!bounty) return;
        closeRequests(model, request.bounty, ['pending'], 'rejected', 'filled');
        Object.assign(request, { status: 'accepted', closedReason: null });
        Object.assign(bounty, { state: 'in_progress', hunter: request.hunter, submissionsSinceAccept: 0 });
        record(bounty, 'accept', 'open', 'poster', 'poster');
      },
    };
  }
  perform(model: Model, real: Real) {
    const { request, actor } = this.target(model);
    const now = new Date(model.now);
    const who = actorOf(real, actor);
    if (this.how === 'accept') return acceptRequest(real.deps.db, real.deps.marketplace, who, request.id, now);
    if (this.how === 'reject') return rejectRequest(real.deps.db, who, request.id, now);
    return withdrawRequest(real.deps.db, who, request.id, now);
  }
  toString = () => `${this.how}(${this.who}, ${this.steer ? 'steered ' : ''}request ${this.index})`;
}

/** Moves the clock and fires every due timer, as the `bounties.timers` job does each minute. */
class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly hours: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    tick(model, real);
    model.now += this.hours * HOUR_MS;
    real.clock.set(new Date(model.now));
    await fireDueTimers(real.database.primary, { settings: real.deps.marketplace.settings, now: real.clock.now }, real.logger);
    fireModelTimers(model, real.deps.marketplace.settings);
  }
  toString = () => `advance(${this.hours}h) and fire timers`;
}

// --- The test ----------------------------------------------------------------------------------------

describe.skipIf(!hasCluster)('the bounty lifecycle against an in-memory model (fast-check)', () => {
  const databaseName = `bounties_model_${Date.now().toString(36)}`;
  let admin: DatabaseCluster;
  let database: DatabaseCluster;
  let settings: MarketplaceSettings;

  beforeAll(async () => {
    // A database of its own: the timers fire for every bounty in a database, and the
    // conservation of money is checked over all of it.
    admin = await DatabaseCluster.open(testConfig().database, createLogger({ level: 'silent' }));
    await admin.primary.execute(sql.raw(`create database ${databaseName}`));
    const config = testConfig({ DATABASE_URL: withDatabase(clusterEnv.databaseUrl ?? '', databaseName), DATABASE_REPLICA_URLS: '' });
    settings = config.marketplace;
    database = await DatabaseCluster.open(config.database, createLogger({ level: 'silent' }));
    await applyMigrations(database.primary);
  });
  afterAll(async () => {
    await database?.close();
    await admin?.primary.execute(sql.raw(`drop database if exists ${databaseName} with (force)`));
    await admin?.close();
  });

  test(`every command's outcome and every invariant match the model (${NUM_RUNS} runs of up to ${MAX_COMMANDS} commands)`, async () => {
    // Half of the rewards end in 5: a 10 % fee on them is a half cent, where rounding rules differ.
    const reward = fc.oneof(fc.integer({ min: 100, max: 6_000 }), fc.integer({ min: 10, max: 599 }).map((tens) => tens * 10 + 5));
    const index = fc.nat({ max: 11 });
    const steer = fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
    const anyone = fc.constantFrom<Who>('poster', 'hunter', 'otherHunter', 'admin', 'stranger');
    /** Mostly the party a step is meant for, sometimes anyone at all. */
    const by = (...natural: Who[]) => fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...natural) }, { weight: 1, arbitrary: anyone });
    const percent = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 100 }) }, { weight: 1, arbitrary: fc.constant(101) });
    const transition = (name: Transition['name'], who: fc.Arbitrary<Who>, weight = 2) => ({
      weight,
      arbitrary: fc.tuple(who, index, percent, steer).map(([w, b, arg, s]) => new Transition(name, w, b, arg, s) as fc.AsyncCommand<Model, Real>),
    });
    const create = (publish: fc.Arbitrary<boolean>) =>
      fc.tuple(reward, fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 2 }), publish).map(([r, d, m, p]) => new Create(r, d, m, p));
    const answer = (how: Answer['how'], who: fc.Arbitrary<Who>, weight: number) => ({
      weight,
      arbitrary: fc.tuple(who, index, steer).map(([w, r, s]) => new Answer(how, w, r, s) as fc.AsyncCommand<Model, Real>),
    });
    const commands: Array<fc.Arbitrary<fc.AsyncCommand<Model, Real>>> = [
      fc.oneof(
        { weight: 2, arbitrary: create(fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })) },
        { weight: 1, arbitrary: fc.tuple(by('poster'), index, steer).map(([w, b, s]) => new Publish(w, b, s)) },
        { weight: 1, arbitrary: fc.integer({ min: 100, max: 6_000 }).map((amount) => new Deposit(amount)) },
        {
          weight: 4,
          arbitrary: fc
            .tuple(fc.constantFrom<ActorKey>('hunter1', 'hunter1', 'hunter1', 'hunter2', 'hunter2', 'hunter2', 'stranger', 'poster', 'admin'), index, steer)
            .map(([actor, b, s]) => new Apply(actor, b, s)),
        },
        answer('accept', by('poster'), 4),
        answer('reject', by('poster'), 1),
        answer('withdrawRequest', by('hunter'), 1),
        transition('withdraw', by('hunter'), 1),
        transition('unassign', by('poster'), 1),
        transition('submit', by('hunter'), 4),
        transition('request_changes', by('poster'), 3),
        transition('approve', by('poster')),
        transition('dispute', by('poster', 'hunter'), 3),
        transition('respond_dispute', by('poster', 'hunter')),
        {
          weight: 2,
          arbitrary: fc
            .tuple(by('admin'), index, percent, steer, fc.constantFrom('release' as const, 'refund' as const, 'split' as const))
            .map(([w, b, arg, s, outcome]) => new Transition('resolve', w, b, arg, s, outcome)),
        },
        transition('propose_cancel', by('poster', 'hunter'), 3),
        transition('accept_cancel', by('poster', 'hunter'), 3),
        transition('decline_cancel', by('poster', 'hunter'), 1),
        transition('cancel', by('poster'), 1),
        transition('admin_cancel', by('admin'), 1),
        // Mostly hours to two days (the proposals' 48 h), sometimes past the expiry, review and dispute clocks.
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 48 }).map((hours) => new Advance(hours)) },
        { weight: 1, arbitrary: fc.integer({ min: 49, max: 24 * 12 }).map((hours) => new Advance(hours)) },
      ),
    ];
    const opening = fc
      .tuple(create(fc.constant(true)), fc.constantFrom<ActorKey>('hunter1', 'hunter2'), fc.nat({ max: 3 }))
      .map(([first, hunter, depth]): Array<fc.AsyncCommand<Model, Real>> =>
        [first, new Apply(hunter, 0, false), new Answer('accept', 'poster', 0, true), new Transition('submit', 'hunter', 0, 1, false)].slice(0, depth + 1),
      );
    let run = 0;
    await fc.assert(
      // Every run opens with a published bounty taken 0 to 3 steps down the main path (applied to,
      // accepted, submitted), so that short random sequences still reach the later states.
      fc.asyncProperty(opening, fc.commands(commands, { maxCommands: MAX_COMMANDS, size: 'max' }), async (prelude, sequence) => {
        run += 1;
        // Whatever an earlier run (or shrink) left behind fires now, before this run looks.
        await fireDueTimers(database.primary, { settings, now: () => FAR_FUTURE }, createLogger({ level: 'silent' }));
        const ids = Object.fromEntries(ACTORS.map((actor) => [actor, `model${run}_${actor}_${crypto.randomUUID().slice(0, 8)}`])) as Record<ActorKey, string>;
        await database.primary.insert(connectAccounts).values(
          ONBOARDED.map((actor) => ({ userId: ids[actor], stripeAccountId: `acct_model_${ids[actor]}`, detailsSubmitted: true, chargesEnabled: true, payoutsEnabled: true })),
        );
        const initial = 8_000;
        const fundKey = `model:funding:${ids.poster}`;
        await database.primary.transaction((tx) =>
          creditFromStripe(tx, { userId: ids.poster, amount: initial, currency: 'usd', effectKey: fundKey, description: 'model funding', reference: { type: 'model', id: fundKey } }),
        );
        const clock = testClock(new Date(BASE));
        const captured = captureLogs('error');
        const real: Real = { database, deps: { db: database.session(), marketplace: { settings }, now: clock.now }, clock, ids, logger: captured.logger, logs: captured.lines };
        const model: Model = {
          now: BASE,
          bounties: [],
          requests: [],
          wallet: { poster: initial, hunter1: 0, hunter2: 0, admin: 0, stranger: 0 },
          fees: 0,
          funded: initial,
        };
        // Every invariant after every step: the command runs, then the whole state is compared.
        const checked = [...prelude, ...sequence].map((command): fc.AsyncCommand<Model, Real> => ({
          check: (state) => command.check(state),
          run: async (state, system) => {
            // A fresh session per step, as each request has its own.
            system.deps = { ...system.deps, db: system.database.session() };
            await command.run(state, system);
            await assertInvariants(state, system);
          },
          toString: () => command.toString(),
        }));
        await fc.asyncModelRun(() => ({ model, real }), checked);
      }),
      { numRuns: NUM_RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
    if (process.env.BOUNTIES_MODEL_VERBOSE) {
      const table = (counts: Map<string, number>) => [...counts.entries()].sort().map(([key, n]) => `  ${key}: ${n}`).join('\n');
      console.log(`transitions made:\n${table(covered)}\ncommand outcomes:\n${table(outcomes)}`);
    }
  }, Math.max(120_000, NUM_RUNS * MAX_COMMANDS * 400));
});
