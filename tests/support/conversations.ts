/**
 * Conversations through the API, as a client uses them: find the thread of a bounty, send (with a
 * client-generated id), page messages, read. Every call goes through `t.request` (checked against
 * the API document); a stored row is read from the primary only where a user could not see it.
 */
import { asc, eq } from 'drizzle-orm';
import { userEvents } from '../../src/db';
import type { TestAccount } from './accounts';
import { send, type Sent } from './bounties';
import type { TestApp } from './harness';
import { at, items } from './json';

export type MessageItem = { id: number; senderId: string | null; kind: string; body: string | null; deleted: boolean; systemEvent: string | null; edits?: unknown[] };

export const messageItems = (body: unknown): MessageItem[] => items(at(body, 'data')) as MessageItem[];
export const idsOf = (body: unknown): number[] => messageItems(body).map((message) => message.id);

/** The id of `account`'s conversation about `bountyId` (from their own list), or null. */
export async function conversationOf(t: TestApp, account: TestAccount, bountyId: string): Promise<string | null> {
  const listed = await send(t, account, 'GET', '/conversations?limit=100');
  if (listed.status !== 200) throw new Error(`GET /conversations: ${listed.status} ${JSON.stringify(listed.body)}`);
  const found = items(at(listed.body, 'data')).find((conversation) => at(conversation, 'bounty', 'id') === bountyId);
  return found ? String(at(found, 'id')) : null;
}

/** Sends `text` with a fresh clientMessageId unless one is given. */
export const say = (t: TestApp, account: TestAccount, conversationId: string, text: string, clientMessageId: string = crypto.randomUUID()): Promise<Sent> =>
  send(t, account, 'POST', `/conversations/${conversationId}/messages`, { text, clientMessageId });

/** Sends and returns the new message's id (201 expected). */
export async function said(t: TestApp, account: TestAccount, conversationId: string, text: string): Promise<number> {
  const sent = await say(t, account, conversationId, text);
  if (sent.status !== 201) throw new Error(`send failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  return Number(at(sent.body, 'data', 'id'));
}

export const messagesOf = (t: TestApp, account: TestAccount, conversationId: string, query = ''): Promise<Sent> =>
  send(t, account, 'GET', `/conversations/${conversationId}/messages${query}`);

/** A person's stream events (what their sockets are sent), oldest first. */
export async function streamOf(t: TestApp, userId: string, type?: string) {
  const rows = await t.database.primary.select().from(userEvents).where(eq(userEvents.userId, userId)).orderBy(asc(userEvents.seq));
  return type ? rows.filter((row) => row.type === type) : rows;
}


/** The system messages of a conversation as `account` reads it: [systemEvent, body], oldest first. */
export async function systemMessagesOf(t: TestApp, account: TestAccount, conversationId: string): Promise<Array<Array<string | null>>> {
  await t.settle();
  const page = await messagesOf(t, account, conversationId, '?limit=100');
  if (page.status !== 200) throw new Error(`GET messages: ${page.status} ${JSON.stringify(page.body)}`);
  return messageItems(page.body)
    .filter((message) => message.kind === 'system')
    .map((message) => [message.systemEvent, message.body]);
}

/** The `action`s of the bounty.state_changed events `userId`'s stream holds for `bountyId`, oldest first. */
export async function stateChangesOf(t: TestApp, userId: string, bountyId: string): Promise<unknown[]> {
  return (await streamOf(t, userId, 'bounty.state_changed')).filter((event) => at(event.data, 'bountyId') === bountyId).map((event) => at(event.data, 'action'));
}

/**
 * `account`'s unread count of one conversation as each route says it: GET /conversations (null
 * when not listed), GET /conversations/:id and GET /conversations/unread (0 when not listed).
 * The three must agree.
 */
export async function unreadEverywhere(t: TestApp, account: TestAccount, conversationId: string): Promise<{ list: unknown; detail: unknown; summary: unknown }> {
  await t.settle();
  const listed = await send(t, account, 'GET', '/conversations?limit=100');
  const inList = items(at(listed.body, 'data')).find((conversation) => at(conversation, 'id') === conversationId);
  const detail = await send(t, account, 'GET', `/conversations/${conversationId}`);
  const summary = await send(t, account, 'GET', '/conversations/unread');
  const row = items(at(summary.body, 'data', 'conversations')).find((entry) => at(entry, 'conversationId') === conversationId);
  return { list: inList === undefined ? null : at(inList, 'unreadCount'), detail: at(detail.body, 'data', 'unreadCount'), summary: row === undefined ? 0 : at(row, 'unreadCount') };
}
