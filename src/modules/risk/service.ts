/**
 * Deciding: the rules (rules.ts) over facts loaded once (facts.ts), and the record of what they
 * decided. Anything but allow writes a risk_events row per rule that fired; a hold or a deny
 * also writes one audit row `risk.decision` (actor: the service).
 *
 * Where each record commits:
 * - warn, flag, hold: in the caller's transaction, with what it holds (a held withdrawal and its
 *   record commit together or not at all).
 * - deny: the refusal aborts the caller's transaction, which would erase a record written in it.
 *   So `decide` throws a RiskDenial (the 4xx itself) without writing, and `recordingDenials`,
 *   around the caller's transaction, commits the record in a transaction of its own after the
 *   rollback, then lets the 4xx go on.
 */
import { and, eq, gt, sql } from 'drizzle-orm';
import type { RiskSettings } from '../../config/env';
import { type Bounty, type DatabaseSession, riskEvents, type Transaction } from '../../db';
import { HttpError } from '../../lib/errors';
import { SYSTEM_ACTOR, recordAudit } from '../audit/service';
import { recordEvents } from '../outbox';
import { RISK_ERRORS } from './errors';
import { depositFacts, publishFacts, requestFacts, rewardFacts, withdrawalFacts } from './facts';
import { recordLink } from './links';
import {
  anyActive,
  BOUNTY_CREATE_RULES,
  BOUNTY_PUBLISH_RULES,
  DEPOSIT_RULES,
  DEVICE_RULES,
  evaluate,
  MESSAGE_RULES,
  REQUEST_RULES,
  type Rule,
  type Verdict,
  WITHDRAWAL_RULES,
} from './rules';

/** What was judged: a deposit, a withdrawal, a bounty, a request, a message, a device. */
export type RiskSubject = Readonly<{ type: string; id: string | null }>;

export type Decision = Readonly<{ userId: string; subject: RiskSubject; verdict: Verdict; now: Date; requestId: string | null }>;

const ALLOWED: Verdict = { outcome: 'allow', decisive: null, fired: [] };

/** A deny: the 4xx the user gets (the rule's message and what it may show), carrying its record. */
export class RiskDenial extends HttpError {
  /** Set once `recordingDenials` committed the record (an outer wrapper does not write it again). */
  recorded = false;

  constructor(readonly decision: Decision) {
    const rule = decision.verdict.decisive;
    const code = rule?.code ?? 'RISK_DENIED';
    const details = Object.entries(rule?.userDetail ?? {}).map(([path, value]) => ({ path, message: String(value) }));
    super(RISK_ERRORS.codes[code].status, code, rule?.userMessage ?? RISK_ERRORS.codes.RISK_DENIED.message, details.length > 0 ? details : undefined);
    this.name = 'RiskDenial';
  }
}

/** The risk events (one per rule that fired) and, for a hold or a deny, the one audit row. */
export async function recordDecision(tx: Transaction, decision: Decision): Promise<void> {
  const { verdict } = decision;
  if (verdict.fired.length === 0) return;
  await tx.insert(riskEvents).values(
    verdict.fired.map((result) => ({
      userId: decision.userId,
      rule: result.rule,
      outcome: result.outcome,
      subjectType: decision.subject.type,
      subjectId: decision.subject.id,
      detail: result.detail,
      createdAt: decision.now,
    })),
  );
  if (verdict.outcome !== 'hold' && verdict.outcome !== 'deny') return;
  await recordAudit(tx, {
    actor: SYSTEM_ACTOR,
    action: 'risk.decision',
    targetId: decision.userId,
    reason: verdict.fired.map((result) => result.reason).join('; ').slice(0, 2_000),
    after: {
      outcome: verdict.outcome,
      rules: verdict.fired.map((result) => result.rule).join(','),
      subjectType: decision.subject.type,
      subjectId: decision.subject.id,
    },
    requestId: decision.requestId,
  });
}

export type Judgement<F> = Readonly<{
  settings: RiskSettings;
  userId: string;
  subject: RiskSubject;
  now: Date;
  requestId?: string | null | undefined;
  rules: readonly Rule<F>[];
  /** Loaded (through the deciding transaction) only when one of the rules may fire. */
  facts: (tx: Transaction) => Promise<F>;
}>;

/**
 * Judges in the caller's transaction: allow, or a warn / flag / hold recorded in it, or a
 * RiskDenial thrown (recorded by `recordingDenials` around the transaction).
 */
export async function decide<F>(tx: Transaction, judgement: Judgement<F>): Promise<Verdict> {
  if (!anyActive(judgement.rules, judgement.settings)) return ALLOWED;
  const verdict = evaluate(judgement.rules, await judgement.facts(tx), judgement.settings);
  if (verdict.outcome === 'allow') return verdict;
  const decision: Decision = { userId: judgement.userId, subject: judgement.subject, verdict, now: judgement.now, requestId: judgement.requestId ?? null };
  if (verdict.outcome === 'deny') throw new RiskDenial(decision);
  await recordDecision(tx, decision);
  return verdict;
}

/** Runs `work` (which opens the deciding transaction); a denial in it is recorded once it rolled back. */
export async function recordingDenials<T>(db: DatabaseSession, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RiskDenial && !error.recorded) {
      error.recorded = true;
      await db.transaction((tx) => recordDecision(tx, error.decision));
    }
    throw error;
  }
}

/** A decision with nothing else to write: its own transaction, and none at all when no rule can fire. */
export async function decideApart<F>(db: DatabaseSession, judgement: Judgement<F>): Promise<Verdict> {
  if (!anyActive(judgement.rules, judgement.settings)) return ALLOWED;
  return recordingDenials(db, () => db.transaction((tx) => decide(tx, judgement)));
}

type Common = Readonly<{ settings: RiskSettings; userId: string; now: Date; requestId?: string | null | undefined }>;

/**
 * A new deposit (deny only). This user's deposit decisions queue on an advisory lock, so two
 * racing deposits are counted one after the other; the caller inserts the deposit in the same
 * transaction.
 */
export async function judgeDeposit(tx: Transaction, input: Common & { amount: number; currency: string }): Promise<Verdict> {
  if (!anyActive(DEPOSIT_RULES, input.settings)) return ALLOWED;
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`risk:deposits:${input.userId}`}))`);
  return decide(tx, {
    ...input,
    subject: { type: 'deposit', id: null },
    rules: DEPOSIT_RULES,
    facts: (reader) => depositFacts(reader, input.userId, input),
  });
}

/** A withdrawal: call with the wallet's available and hold accounts locked (the balance read is the hold's). */
export function judgeWithdrawal(tx: Transaction, input: Common & { withdrawalId: string; amount: number; currency: string }): Promise<Verdict> {
  return decide(tx, {
    ...input,
    subject: { type: 'withdrawal', id: input.withdrawalId },
    rules: WITHDRAWAL_RULES,
    facts: (reader) => withdrawalFacts(reader, input.userId, input, input.settings),
  });
}

/** A draft's reward, as it is created. */
export function judgeNewBounty(db: DatabaseSession, input: Common & { reward: number; currency: string }): Promise<Verdict> {
  return decideApart(db, {
    ...input,
    subject: { type: 'bounty', id: null },
    rules: BOUNTY_CREATE_RULES,
    facts: (reader) => rewardFacts(reader, input.userId, { reward: input.reward, currency: input.currency, now: input.now }),
  });
}

/**
 * Publishing: in the transition's transaction, under the bounty's lock. The poster's publish
 * decisions (by wallet or by card, of any bounty) queue on an advisory lock, so racing publishes
 * of different drafts are counted one after the other. What remains: a card publish counts from
 * its deposit row, written just after its judging transaction commits (Stripe is never called
 * inside one), so two card publishes racing within that moment can both pass.
 */
export async function judgePublish(
  tx: Transaction,
  input: Omit<Common, 'userId'> & { bounty: Pick<Bounty, 'id' | 'posterId' | 'rewardAmount' | 'currency'> },
): Promise<Verdict> {
  const { bounty } = input;
  if (!anyActive(BOUNTY_PUBLISH_RULES, input.settings)) return ALLOWED;
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`risk:publish:${bounty.posterId}`}))`);
  return decide(tx, {
    ...input,
    userId: bounty.posterId,
    subject: { type: 'bounty', id: bounty.id },
    rules: BOUNTY_PUBLISH_RULES,
    facts: (reader) => publishFacts(reader, bounty.posterId, { bountyId: bounty.id, reward: bounty.rewardAmount, currency: bounty.currency, now: input.now }),
  });
}

/** An application, before it is made (a soft daily cap: two racing applies may both pass). */
export function judgeRequest(db: DatabaseSession, input: Common & { bountyId: string }): Promise<Verdict> {
  return decideApart(db, {
    ...input,
    subject: { type: 'bounty', id: input.bountyId },
    rules: REQUEST_RULES,
    facts: (reader) => requestFacts(reader, input.userId, input.now),
  });
}

export type RiskWarning = Readonly<{ code: string; message: string }>;

const DAY_MS = 86_400_000;

/**
 * A sent message: off-platform contact or payment is counted (a `warn` event on the message) and
 * the sender is told, in the send's answer each time and by a notification at most once a day.
 * The message is sent either way. Counted even with the rules switched off.
 */
export async function warnOffPlatform(
  tx: Transaction,
  input: Common & { messageId: number; text: string; links: readonly string[] },
): Promise<RiskWarning | null> {
  if (!anyActive(MESSAGE_RULES, input.settings)) return null;
  const verdict = evaluate(MESSAGE_RULES, { text: input.text, links: input.links }, input.settings);
  if (verdict.outcome !== 'warn' || !verdict.decisive) return null;
  const [earlier] = await tx
    .select({ id: riskEvents.id })
    .from(riskEvents)
    .where(and(eq(riskEvents.userId, input.userId), eq(riskEvents.rule, 'off_platform_contact'), gt(riskEvents.createdAt, new Date(input.now.getTime() - DAY_MS))))
    .limit(1);
  await recordDecision(tx, { userId: input.userId, subject: { type: 'message', id: String(input.messageId) }, verdict, now: input.now, requestId: input.requestId ?? null });
  if (!earlier) {
    await recordEvents(tx, input.now, [
      { topic: 'risk.off_platform_warning', recipientId: input.userId, subject: { type: 'message', id: String(input.messageId) }, payload: { kinds: String(verdict.decisive.detail.kinds ?? '') } },
    ]);
  }
  return { code: 'OFF_PLATFORM_CONTACT', message: verdict.decisive.userMessage };
}

/**
 * A push token registered: linked to the account (a sha256 of it), and flagged when more accounts
 * than RISK_LINKED_ACCOUNTS_MAX share the device. Only a link new for this account is judged: an
 * app registers its token at every launch.
 */
export async function linkDevice(tx: Transaction, input: Common & { token: string }): Promise<Verdict> {
  const link = await recordLink(tx, { kind: 'device', value: input.token, userId: input.userId, now: input.now });
  if (!link.isNew) return ALLOWED;
  return decide(tx, {
    ...input,
    subject: { type: 'device', id: link.fingerprint.slice(0, 16) },
    rules: DEVICE_RULES,
    facts: async () => ({ kind: 'device' as const, linkedUsers: link.linkedUsers }),
  });
}
