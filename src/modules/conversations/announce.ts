/**
 * What a bounty transition says in chat: a system message in every conversation it concerns (the
 * bounty's hunter's, and each applicant's whose request is live or was closed by it), and a
 * `bounty.state_changed` event to the poster, the hunter(s) and those applicants. Called by the
 * engine at the end of transition(), inside its transaction (after the bounty's lock: the lock
 * order bounty, conversations in id order, member rows, cursors holds).
 */
import type { Bounty, RequestCloseReason, Transaction } from '../../db';
import { appendUserEvents, type StreamEvent } from '../realtime/stream';
import { lockTransitionConversations, postSystemMessage } from './messages';

/**
 * One short sentence per transition, as the members read it (keyed by the lifecycle's names:
 * tests/conversations.test.ts checks every one has its sentence; this module does not import
 * the bounties module, which imports it).
 */
export const TRANSITION_SENTENCES: Readonly<Record<string, string>> = {
  publish: 'The bounty was published',
  cancel: 'The poster cancelled the bounty',
  expire: 'The bounty expired without a hunter',
  accept: 'The poster accepted the request',
  withdraw: 'The hunter withdrew from the bounty',
  unassign: 'The poster removed the hunter from the bounty',
  submit: 'Work submitted',
  request_changes: 'The poster asked for changes',
  approve: 'Approved: the reward was released',
  auto_approve: 'Approved automatically: the reward was released',
  dispute: 'A dispute was opened',
  respond_dispute: 'The dispute was answered',
  escalate_dispute: 'The dispute went to an admin',
  resolve: 'An admin resolved the dispute',
  propose_cancel: 'A cancellation was proposed',
  accept_cancel: 'The bounty was cancelled by agreement',
  decline_cancel: 'The cancellation proposal was declined',
  expire_cancel_proposal: 'The cancellation proposal lapsed',
  admin_cancel: 'An admin cancelled the bounty',
};

/**
 * What an applicant who is not the bounty's hunter reads where the transition means something else
 * for them than for the hunter (accept: their request was closed as filled). Other transitions
 * (cancel, expire, an admin's cancel) read the same for everyone.
 */
export const APPLICANT_SENTENCES: Readonly<Record<string, { body: string; systemEvent: string }>> = {
  accept: { body: 'Another hunter was picked: this thread is now read-only', systemEvent: 'request.filled' },
};

/**
 * How a transition closes the other applicants' requests (bounties/actions.ts, requests/service.ts):
 * accept as `filled`, a cancel or expiry as `closed`. Matching the reason (with the transition's
 * moment) keeps an earlier transition's closings at the same instant out.
 */
const closedReasonOf = (name: string): RequestCloseReason => (name === 'accept' ? 'filled' : 'closed');

/**
 * Posts the transition's system messages (the hunter before it, or the one it assigned: unassign
 * and withdraw are told to the hunter who leaves; and every applicant it concerns) and the stream
 * events. The actor's own read mark moves past the message they caused (`actorId`: null for a
 * timer). Appends the transaction's stream events, once: nothing after it in the same
 * transaction may append again.
 */
export async function announceTransition(
  tx: Transaction,
  input: { before: Bounty; after: Bounty; name: string; now: Date; actorId: string | null },
): Promise<void> {
  const { before, after, name, now, actorId } = input;
  const hunterId = before.hunterId ?? after.hunterId;
  const threads = await lockTransitionConversations(tx, { bountyId: after.id, hunterId, closedReason: closedReasonOf(name), closedAt: now });

  const data = { bountyId: after.id, from: before.state, to: after.state, action: name };
  const told = [before.posterId, before.hunterId, after.hunterId, ...threads.map((locked) => locked.conversation.hunterId)];
  const parties = new Set(told.filter((id): id is string => id !== null));
  const events: StreamEvent[] = [...parties].map((userId) => ({ userId, type: 'bounty.state_changed', data }));

  const own = { body: TRANSITION_SENTENCES[name] ?? `The bounty is now ${after.state.replaceAll('_', ' ')}`, systemEvent: `bounty.${name}` };
  for (const locked of threads) {
    const sentence = locked.conversation.hunterId === hunterId ? own : (APPLICANT_SENTENCES[name] ?? own);
    events.push(...(await postSystemMessage(tx, locked, { ...sentence, causedBy: actorId }, now)));
  }
  await appendUserEvents(tx, now, events);
}
