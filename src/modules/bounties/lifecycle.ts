/**
 * The bounty lifecycle as one table (after Sharetribe's transaction processes): for each
 * transition, the states it leaves from, where it goes, who may trigger it, what it does with the
 * escrow and which timers it starts or stops. The transition engine (engine.ts), the routes,
 * the API document, each bounty's `allowedTransitions` and the tests all read this table.
 *
 * Pure: no database, no clock. ../../../ARCHITECTURE.md has the same table for readers.
 */
import type { MarketplaceSettings } from '../../config/env';
import type { Bounty, BountyParty, BountyState, CancelReason, TimerKind } from '../../db';

/**
 * States anyone may see and browse; drafts and cancelled bounties only their participants and
 * staff (engine.ts canSee, browse.ts).
 */
export const PUBLIC_STATES = ['open', 'in_progress', 'submitted', 'changes_requested', 'disputed', 'completed'] as const satisfies readonly BountyState[];
export type PublicState = (typeof PUBLIC_STATES)[number];

/** Who acts: the bounty's poster, its accepted hunter, an admin, or a timer. */
export type Party = 'poster' | 'hunter' | 'admin' | 'system';

/** What a transition does with the reward in escrow. */
export type EscrowEffect = 'hold' | 'release' | 'refund' | 'settle' | 'none';

export type TransitionRule = Readonly<{
  from: readonly BountyState[];
  /** `same`: the state does not change (a proposal, an answer); `outcome`: chosen by the request. */
  to: BountyState | 'same' | 'outcome';
  cancelReason?: CancelReason;
  by: readonly Party[];
  escrow: EscrowEffect;
  starts: readonly TimerKind[];
  /** The route under /bounties/:id/ that triggers it; null for timers and for accept (/requests/:id/accept). */
  path: string | null;
  summary: string;
}>;

export const LIFECYCLE = {
  publish: {
    from: ['draft'], to: 'open', by: ['poster'], escrow: 'hold', starts: ['expire', 'expiry_reminder'], path: 'publish',
    summary: 'Hold the reward in escrow (from the wallet, or by card: the bounty opens when the payment succeeds) and list the bounty',
  },
  cancel: {
    from: ['draft', 'open'], to: 'cancelled', cancelReason: 'poster', by: ['poster'], escrow: 'refund', starts: [], path: 'cancel',
    summary: 'Cancel while no hunter is accepted; the escrow returns to the wallet',
  },
  expire: {
    from: ['open'], to: 'cancelled', cancelReason: 'expired', by: ['system'], escrow: 'refund', starts: [], path: null,
    summary: 'Past the deadline plus grace with no accepted hunter: cancelled and refunded automatically',
  },
  accept: {
    from: ['open'], to: 'in_progress', by: ['poster'], escrow: 'none', starts: ['idle_hunter_nudge'], path: null,
    summary: 'Accept a request (POST /requests/:id/accept); every other pending request is rejected as filled',
  },
  withdraw: {
    from: ['in_progress', 'changes_requested'], to: 'open', by: ['hunter'], escrow: 'none', starts: ['expire', 'expiry_reminder'], path: 'withdraw',
    summary: 'The hunter stops work; the bounty is open again (counts against their completion rate)',
  },
  unassign: {
    from: ['in_progress'], to: 'open', by: ['poster'], escrow: 'none', starts: ['expire', 'expiry_reminder'], path: 'unassign',
    summary: 'The poster removes the hunter, only before any submission; the bounty is open again',
  },
  submit: {
    from: ['in_progress', 'changes_requested'], to: 'submitted', by: ['hunter'], escrow: 'none', starts: ['auto_approve', 'review_reminder'], path: 'submit',
    summary: 'Deliver: a message and at least one link; restarts the review clock',
  },
  request_changes: {
    from: ['submitted'], to: 'changes_requested', by: ['poster'], escrow: 'none', starts: [], path: 'request-changes',
    summary: 'Ask for a revision citing unmet criteria, at most max revisions times; stops the auto-approve clock',
  },
  approve: {
    from: ['submitted'], to: 'completed', by: ['poster'], escrow: 'release', starts: [], path: 'approve',
    summary: 'Accept the work: the escrow goes to the hunter less the platform fee',
  },
  auto_approve: {
    from: ['submitted'], to: 'completed', by: ['system'], escrow: 'release', starts: [], path: null,
    summary: 'No answer within AUTO_APPROVE_DAYS of the last submission: approved automatically',
  },
  dispute: {
    from: ['submitted', 'changes_requested'], to: 'disputed', by: ['poster', 'hunter'], escrow: 'none', starts: ['dispute_escalation', 'dispute_reminder'], path: 'dispute',
    summary: 'Either side disputes, citing criteria; the escrow stays frozen until an admin resolves it',
  },
  respond_dispute: {
    from: ['disputed'], to: 'same', by: ['poster', 'hunter'], escrow: 'none', starts: [], path: 'respond-dispute',
    summary: 'The other side answers the dispute (once); the dispute then waits for an admin',
  },
  escalate_dispute: {
    from: ['disputed'], to: 'same', by: ['system'], escrow: 'none', starts: [], path: null,
    summary: 'No answer within DISPUTE_RESPONSE_DAYS: the dispute goes to an admin (a timer never settles it)',
  },
  resolve: {
    from: ['disputed'], to: 'outcome', by: ['admin'], escrow: 'settle', starts: [], path: 'resolve',
    summary: 'An admin rules with a written reason: release (completed), refund or split (cancelled: dispute)',
  },
  propose_cancel: {
    from: ['in_progress', 'submitted', 'changes_requested', 'disputed'], to: 'same', by: ['poster', 'hunter'], escrow: 'none',
    starts: ['cancel_proposal_expiry'], path: 'propose-cancel',
    summary: 'Propose to cancel together, with the hunter\'s share of the escrow; lapses after MUTUAL_CANCEL_HOURS',
  },
  accept_cancel: {
    from: ['in_progress', 'submitted', 'changes_requested', 'disputed'], to: 'cancelled', cancelReason: 'mutual', by: ['poster', 'hunter'],
    escrow: 'settle', starts: [], path: 'accept-cancel',
    summary: 'The other side accepts the proposal: cancelled, the escrow split as proposed',
  },
  decline_cancel: {
    from: ['in_progress', 'submitted', 'changes_requested', 'disputed'], to: 'same', by: ['poster', 'hunter'], escrow: 'none', starts: [],
    path: 'decline-cancel',
    summary: 'The other side declines the proposal (or the proposer takes it back)',
  },
  expire_cancel_proposal: {
    from: ['in_progress', 'submitted', 'changes_requested', 'disputed'], to: 'same', by: ['system'], escrow: 'none', starts: [], path: null,
    summary: 'A proposal nobody accepted lapses',
  },
  admin_cancel: {
    from: ['open', 'in_progress', 'submitted', 'changes_requested', 'disputed'], to: 'cancelled', cancelReason: 'admin', by: ['admin'],
    escrow: 'refund', starts: [], path: 'admin-cancel',
    summary: 'An admin cancels with a written reason (moderation); the escrow returns to the poster',
  },
} as const satisfies Record<string, TransitionRule>;

export type TransitionName = keyof typeof LIFECYCLE;
export const TRANSITION_NAMES = Object.keys(LIFECYCLE) as TransitionName[];

/** Transitions a client triggers at /bounties/:id/<path>. */
export const ROUTED_TRANSITIONS = TRANSITION_NAMES.filter((name) => LIFECYCLE[name].path !== null);

/** The parties a viewer plays on a bounty (a poster who is also an admin plays both). */
export function partiesOf(bounty: Pick<Bounty, 'posterId' | 'hunterId'>, viewer: { id: string; role: string } | null): Party[] {
  if (!viewer) return [];
  const parties: Party[] = [];
  if (viewer.id === bounty.posterId) parties.push('poster');
  if (bounty.hunterId !== null && viewer.id === bounty.hunterId) parties.push('hunter');
  if (viewer.role === 'admin') parties.push('admin');
  return parties;
}

/** What the guard of a transition needs beyond the bounty row. */
export type GuardFacts = Readonly<{
  /** The open dispute, if any: who opened it and whether it was answered. */
  dispute: { openedByRole: 'poster' | 'hunter'; answered: boolean } | null;
}>;

/**
 * Why `party` may not take `name` on `bounty` now, or null when it may. The state check comes
 * first (409 with the current state), then the actor (403), then the rule's own condition (409);
 * someone with no part in the bounty at all is 403 whatever its state.
 */
export function refusal(
  name: TransitionName,
  bounty: Pick<Bounty, 'state' | 'revisionsUsed' | 'maxRevisions' | 'cancelProposedBy' | 'hunterId'>,
  parties: readonly Party[],
  facts: GuardFacts,
  actorId: string | null,
): { kind: 'state' | 'actor' | 'rule'; message: string } | null {
  const rule: TransitionRule = LIFECYCLE[name];
  // Someone with no part in the bounty learns nothing about its state from a refusal.
  if (parties.length === 0) return { kind: 'actor', message: `Only the ${rule.by.join(' or ')} may ${label(name)} this bounty` };
  if (!rule.from.includes(bounty.state)) return { kind: 'state', message: `Cannot ${label(name)} a bounty that is ${bounty.state}` };
  const party = rule.by.find((candidate) => parties.includes(candidate));
  if (!party) return { kind: 'actor', message: `Only the ${rule.by.join(' or ')} may ${label(name)} this bounty` };
  // An admin who is the poster or the hunter never rules on their own bounty.
  if (party === 'admin' && (parties.includes('poster') || parties.includes('hunter'))) {
    return { kind: 'actor', message: `An admin who is a party to this bounty may not ${label(name)} it: another admin decides` };
  }
  switch (name) {
    case 'request_changes':
      return bounty.revisionsUsed >= bounty.maxRevisions
        ? { kind: 'rule', message: `All ${bounty.maxRevisions} revisions are used: approve, or dispute citing the unmet criteria` }
        : null;
    case 'respond_dispute': {
      if (!facts.dispute) return { kind: 'rule', message: 'There is no open dispute' };
      if (facts.dispute.answered) return { kind: 'rule', message: 'The dispute has been answered already' };
      return facts.dispute.openedByRole === party ? { kind: 'actor', message: 'Only the other side answers a dispute' } : null;
    }
    case 'propose_cancel':
      return bounty.cancelProposedBy !== null ? { kind: 'rule', message: 'A mutual cancel is already proposed' } : null;
    case 'accept_cancel':
      if (bounty.cancelProposedBy === null) return { kind: 'rule', message: 'No mutual cancel is proposed' };
      return bounty.cancelProposedBy === actorId ? { kind: 'actor', message: 'The other side accepts a proposal, not its proposer' } : null;
    case 'decline_cancel':
      return bounty.cancelProposedBy === null ? { kind: 'rule', message: 'No mutual cancel is proposed' } : null;
    default:
      return null;
  }
}

const label = (name: TransitionName): string => name.replaceAll('_', ' ');

/** The transitions this viewer may take now, by route path (what a client shows as buttons). */
export function allowedTransitions(
  bounty: Pick<Bounty, 'state' | 'revisionsUsed' | 'maxRevisions' | 'cancelProposedBy' | 'hunterId' | 'posterId'>,
  viewer: { id: string; role: string } | null,
  facts: GuardFacts,
): string[] {
  const parties = partiesOf(bounty, viewer);
  if (parties.length === 0) return [];
  return ROUTED_TRANSITIONS.filter((name) => refusal(name, bounty, parties, facts, viewer?.id ?? null) === null).map(
    (name) => LIFECYCLE[name].path ?? name,
  );
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Reminders before auto-approval, in days before it, counted from the same submission. */
export const REVIEW_REMINDER_DAYS_BEFORE = [3, 1] as const;
/** The poster and the applicants hear this long before an open bounty expires. */
export const EXPIRY_REMINDER_HOURS_BEFORE = 24;
/** Both sides hear this long before an unanswered dispute goes to an admin. */
export const DISPUTE_REMINDER_HOURS_BEFORE = 24;

/** When each timer kind is due, from its anchor (the moment it counts from). */
export function timerDue(kind: TimerKind, anchor: Date, settings: MarketplaceSettings, detail?: number | null): Date {
  const at = (ms: number) => new Date(anchor.getTime() + ms);
  switch (kind) {
    case 'expire':
      return at(settings.expiryGraceHours * HOUR_MS);
    case 'expiry_reminder':
      return at((settings.expiryGraceHours - EXPIRY_REMINDER_HOURS_BEFORE) * HOUR_MS);
    case 'auto_approve':
      return at(settings.autoApproveDays * DAY_MS);
    case 'review_reminder':
      return at((settings.autoApproveDays - (detail ?? 0)) * DAY_MS);
    case 'dispute_escalation':
      return at(settings.disputeResponseDays * DAY_MS);
    case 'dispute_reminder':
      return at(settings.disputeResponseDays * DAY_MS - DISPUTE_REMINDER_HOURS_BEFORE * HOUR_MS);
    case 'cancel_proposal_expiry':
      return at(settings.mutualCancelHours * HOUR_MS);
    case 'idle_hunter_nudge':
      return at(settings.idleHunterNudgeDays * DAY_MS);
  }
}

/**
 * Who acts next and by when, from the bounty's state (stored on the row by every transition, so
 * lists show it without recomputing). `dispute` is the open dispute, when there is one.
 */
export function nextStep(
  bounty: Pick<Bounty, 'state' | 'deadline' | 'lastSubmittedAt'>,
  settings: MarketplaceSettings,
  dispute: { openedByRole: 'poster' | 'hunter'; answered: boolean; escalated: boolean; respondBy: Date } | null,
): { nextActionBy: BountyParty; nextDeadlineAt: Date | null } {
  switch (bounty.state) {
    case 'draft':
      return { nextActionBy: 'poster', nextDeadlineAt: null };
    case 'open':
      // The poster picks a hunter before the bounty expires.
      return { nextActionBy: 'poster', nextDeadlineAt: timerDue('expire', bounty.deadline, settings) };
    case 'in_progress':
    case 'changes_requested':
      return { nextActionBy: 'hunter', nextDeadlineAt: bounty.deadline };
    case 'submitted':
      return {
        nextActionBy: 'poster',
        nextDeadlineAt: bounty.lastSubmittedAt ? timerDue('auto_approve', bounty.lastSubmittedAt, settings) : null,
      };
    case 'disputed':
      if (!dispute || dispute.answered || dispute.escalated) return { nextActionBy: 'admin', nextDeadlineAt: null };
      return { nextActionBy: dispute.openedByRole === 'poster' ? 'hunter' : 'poster', nextDeadlineAt: dispute.respondBy };
    case 'completed':
    case 'cancelled':
      return { nextActionBy: 'none', nextDeadlineAt: null };
  }
}

/** The table as rows, for clients (GET /bounties/lifecycle) and for ARCHITECTURE.md. */
export const lifecycleRows = () =>
  TRANSITION_NAMES.map((name) => {
    const rule: TransitionRule = LIFECYCLE[name];
    return {
      name,
      path: rule.path,
      from: [...rule.from],
      to: rule.to,
      cancelReason: rule.cancelReason ?? null,
      by: [...rule.by],
      escrow: rule.escrow,
      starts: [...rule.starts],
      summary: rule.summary,
    };
  });

/** The table in Markdown, as ARCHITECTURE.md carries it (a test keeps the two equal). */
export function lifecycleMarkdown(): string {
  const header = '| transition | route | from | to | who | escrow | starts |\n| --- | --- | --- | --- | --- | --- | --- |';
  const rows = lifecycleRows().map((row) =>
    [
      row.name,
      row.path ? `\`POST /bounties/:id/${row.path}\`` : row.name === 'accept' ? '`POST /requests/:id/accept`' : 'timer',
      row.from.join(', '),
      row.to === 'same' ? '(same)' : row.to === 'outcome' ? 'completed or cancelled (dispute)' : row.cancelReason ? `cancelled (${row.cancelReason})` : row.to,
      row.by.join(', '),
      row.escrow,
      row.starts.join(', ') || '-',
    ].join(' | '),
  );
  return [header, ...rows.map((row) => `| ${row} |`)].join('\n');
}
