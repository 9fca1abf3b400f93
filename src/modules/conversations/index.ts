/**
 * Conversations: one per (bounty, hunter), created with the hunter's request; the application
 * thread before acceptance and the work room after. Members read and write; admins read any
 * (moderation, disputes) and join a disputed one to write. A conversation or message the viewer
 * may not read is the same 404 as one that does not exist.
 */
import { requestIdOf } from '../../plugins/request-context';
import { roleSecurity, rolesFor } from '../../lib/permissions';
import { Elysia } from 'elysia';
import type { ConversationSettings, RiskSettings } from '../../config/env';
import { unprocessable } from '../../lib/errors';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import type { ModuleInfo } from '../module';
import { CONVERSATIONS_ERRORS } from './errors';
import { deleteMessage, editMessage, joinConversation, markRead, sendMessage } from './messages';
import {
  conversationIdParams,
  conversationSchema,
  editMessageBody,
  joinBody,
  listConversationsQuery,
  listMessagesQuery,
  messageIdParams,
  messageSchema,
  messagesPageSchema,
  readBody,
  sentMessageSchema,
  readResultSchema,
  sendMessageBody,
  unreadSchema,
} from './schemas';
import { getConversation, listConversations, listMessages, type MessageAnchor, unreadSummary } from './service';

export { announceTransition } from './announce';
export { openConversation, unreadCountFor } from './service';

export const conversationsModule: ModuleInfo = {
  tag: { name: 'conversations', description: 'Chat between a poster and a hunter, per bounty; live over the /ws/messages WebSocket' },
  errors: CONVERSATIONS_ERRORS.codes,
};

export type ConversationsDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  settings: ConversationSettings;
  /** The clock every write is stamped with (tests move it). */
  now: () => Date;
  /** The risk rules: off-platform contact in a message is counted and the sender warned. */
  risk: RiskSettings;
};

const conflicts = { 409: errorSchema } as const;

/** At most one of before / after / around; none is the newest page. */
function anchorOf(query: { before?: number | undefined; after?: number | undefined; around?: number | undefined }): MessageAnchor {
  const given = (['before', 'after', 'around'] as const).filter((key) => query[key] !== undefined);
  if (given.length > 1) {
    throw unprocessable('Give at most one of before, after and around', given.map((key) => ({ path: key, message: 'only one of before, after, around' })));
  }
  if (query.before !== undefined) return { before: query.before };
  if (query.after !== undefined) return { after: query.after };
  if (query.around !== undefined) return { around: query.around };
  return null;
}

export const conversationsRoutes = (deps: ConversationsDeps) =>
  new Elysia({ tags: [conversationsModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get(
      '/conversations',
      async ({ query, user, db }) => {
        const cursor = cursorFromQuery(query.cursor, { ids: 'uuid' });
        const result = await listConversations(db, user, { limit: clampLimit(query.limit), cursor });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        query: listConversationsQuery,
        response: { 200: pageSchema(conversationSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Your conversations',
          description: 'Newest activity first, each with its bounty, its members (with their roles and read receipts), the last message and your unread count.',
        },
      },
    )
    .get('/conversations/unread', async ({ user, db }) => ok(await unreadSummary(db, user)), {
      auth: true,
      response: { 200: successSchema(unreadSchema), ...authErrors, ...commonErrors },
      detail: {
        summary: 'Your unread messages',
        description: 'Messages not sent by you after your last read one (deleted ones do not count): the total, and per conversation that has any.',
      },
    })
    .get('/conversations/:id', async ({ params, user, db }) => ok(await getConversation(db, user, params.id)), {
      auth: true,
      params: conversationIdParams,
      response: { 200: successSchema(conversationSchema), ...authErrors, ...commonErrors },
      detail: { summary: 'A conversation', description: 'Its members and admins only (anyone else: 404 CONVERSATION_NOT_FOUND).' },
    })
    .get(
      '/conversations/:id/messages',
      async ({ params, query, user, db }) => {
        const result = await listMessages(db, user, params.id, anchorOf(query), clampLimit(query.limit, 50));
        return { success: true as const, data: result.items, pagination: { nextBefore: result.nextBefore, nextAfter: result.nextAfter } };
      },
      {
        auth: true,
        params: conversationIdParams,
        query: listMessagesQuery,
        response: { 200: messagesPageSchema, ...authErrors, ...commonErrors },
        detail: {
          summary: "A conversation's messages",
          description:
            'Keyset by message id, every page oldest first. No anchor: the newest page. `before=<id>`: the page just older; ' +
            '`after=<id>`: the page just newer (to catch up, pass the last id you hold); `around=<id>`: about half up to and ' +
            'including it, the rest after. At most one anchor (422). Ids commit in order, so paging never skips or repeats a ' +
            'message while others arrive. A deleted message is `body: null, deleted: true` (admins see its text and `edits`).',
        },
      },
    )
    .post(
      '/conversations/:id/messages',
      async ({ params, body, user, db, set }) => {
        const sent = await sendMessage(db, deps.settings, user, params.id, body, deps.now(), deps.risk);
        set.status = sent.created ? 201 : 200;
        return ok(sent.warning ? { ...sent.message, warning: sent.warning } : sent.message);
      },
      {
        auth: true,
        params: conversationIdParams,
        body: sendMessageBody(deps.settings.messageMaxLength),
        response: { 200: successSchema(sentMessageSchema), 201: successSchema(sentMessageSchema), ...authErrors, ...commonErrors, ...conflicts },
        detail: {
          summary: 'Send a message',
          description:
            '201 with the new message; the same `clientMessageId` again returns the first message with 200, never a second. ' +
            'Members only (an admin who has not joined: 403 NOT_A_MEMBER). 409 CONVERSATION_CLOSED once the hunter\'s request ' +
            'is rejected or withdrawn (the thread stays readable); 403 USER_BLOCKED when either of you blocked the other. ' +
            'A message with an email, a phone number, a payment app or handle, or a request to pay outside BOUNTYExpo is sent, ' +
            'counted, and answered with `warning` (OFF_PLATFORM_CONTACT); you are also notified, at most once a day.',
        },
      },
    )
    .patch(
      '/messages/:id',
      async ({ params, body, user, db }) => {
        const edited = await editMessage(db, deps.settings, user, Number(params.id), body, deps.now(), deps.risk);
        return ok(edited.warning ? { ...edited.message, warning: edited.warning } : edited.message);
      },
      {
        auth: true,
        params: messageIdParams,
        body: editMessageBody(deps.settings.messageMaxLength),
        response: { 200: successSchema(sentMessageSchema), ...authErrors, ...commonErrors, ...conflicts },
        detail: {
          summary: 'Edit your message',
          description:
            'Your own text message, within MESSAGE_EDIT_WINDOW_MIN of sending (409 EDIT_WINDOW_CLOSED after), not deleted (409 ' +
            'MESSAGE_DELETED). The previous text is kept in its history. Another member\'s message: 403; one you cannot see: 404. ' +
            'New text with contact details or a payment outside BOUNTYExpo is saved, counted, and answered with `warning`, as on a send.',
        },
      },
    )
    .delete('/messages/:id', async ({ params, user, db }) => ok(await deleteMessage(db, user, Number(params.id), deps.now())), {
      auth: true,
      params: messageIdParams,
      response: { 200: successSchema(messageSchema), ...authErrors, ...commonErrors },
      detail: {
        summary: 'Delete your message',
        description:
          'Soft: members then see it as `body: null, deleted: true`; the text is kept for disputes and admins. Deleting it again ' +
          'changes nothing. Another member\'s message: 403; one you cannot see: 404.',
      },
    })
    .post('/conversations/:id/read', async ({ params, body, user, db }) => ok(await markRead(db, user, params.id, body.lastReadMessageId, deps.now())), {
      auth: true,
      params: conversationIdParams,
      body: readBody,
      response: { 200: successSchema(readResultSchema), ...authErrors, ...commonErrors },
      detail: {
        summary: 'Mark read',
        description:
          'Everything up to `lastReadMessageId` (a message of this conversation, else 422 UNKNOWN_MESSAGE) is read; the mark ' +
          'never moves back. Returns your unread count; the other members (and your other devices) get a read receipt.',
      },
    })
    .post('/conversations/:id/join', async ({ params, body, user, db, request }) => ok(await joinConversation(db, user, params.id, body?.note ?? null, deps.now(), requestIdOf(request))), {
      auth: { role: rolesFor('conversations.join'), fresh: 'sign-in' },
      params: conversationIdParams,
      body: joinBody,
      response: { 200: successSchema(conversationSchema), ...authErrors, ...commonErrors, ...conflicts },
      detail: {
        summary: 'Join as an admin',
        description:
          'An admin joins the conversation of a disputed bounty (409 NOT_DISPUTED otherwise) to write in it, shown among its ' +
          'members as `admin`, with a system message saying so (and the optional `note`). Joining again changes nothing. Admins read any conversation without joining. ' +
          'Audited (`conversation.join`); needs a recent sign-in.',
        security: roleSecurity('conversations.join'),
      },
    });
