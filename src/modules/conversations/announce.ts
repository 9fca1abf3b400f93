/**
 * What a bounty transition says in chat: a system message in the conversation of the bounty with
 * its hunter, and a `bounty.state_changed` event to the poster and the hunter(s). Called by the
 * engine at the end of transition(), inside its transaction (after the bounty's lock: the lock
 * order bounty, conversation, cursors holds).
 */
import type { Bounty, Transaction } from '../../db';
import { appendUserEvents, type StreamEvent } from '../realtime/stream';
import { lockBountyConversation, postSystemMessage } from './messages';

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
 * Posts the transition's system message (the hunter before it, or the one it assigned: unassign
 * and withdraw are told to the hunter who leaves) and the stream events. Appends the transaction's
 * stream events: nothing after it in the same transaction may append again.
 */
export async function announceTransition(tx: Transaction, input: { before: Bounty; after: Bounty; name: string; now: Date }): Promise<void> {
  const { before, after, name, now } = input;
  const data = { bountyId: after.id, from: before.state, to: after.state, action: name };
  const parties = new Set([before.posterId, before.hunterId, after.hunterId].filter((id): id is string => id !== null));
  const events: StreamEvent[] = [...parties].map((userId) => ({ userId, type: 'bounty.state_changed', data }));
  const hunterId = before.hunterId ?? after.hunterId;
  const locked = hunterId ? await lockBountyConversation(tx, after.id, hunterId) : null;
  if (locked) events.push(...(await postSystemMessage(tx, locked, { body: TRANSITION_SENTENCES[name] ?? `The bounty is now ${after.state.replaceAll('_', ' ')}`, systemEvent: `bounty.${name}` }, now)));
  await appendUserEvents(tx, now, events);
}
