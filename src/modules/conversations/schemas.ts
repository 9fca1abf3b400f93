/**
 * The conversations routes' edges. A member sees a deleted message as `body: null, deleted: true`;
 * an admin sees its text and, on every message, the edit history.
 */
import { z } from 'zod';
import { bountyStates, memberRoles, messageKinds } from '../../db';
import { limitQuery, NO_NUL_PATTERN, numericIdParam, safeText, userIdSchema } from '../../lib/validation';

export const MAX_LINKS = 5;
/** http(s) only, as a bounty's links: a `javascript:` URL is an XSS vector for whoever renders it. */
const linkSchema = z.url({ protocol: /^https?$/ }).max(2048).regex(NO_NUL_PATTERN);
/** Ids the client makes up (a UUID, a ULID, a counter): printable, no spaces. */
export const CLIENT_MESSAGE_ID = /^[A-Za-z0-9._:-]+$/;

export const conversationIdParams = z.object({ id: z.uuid().max(36) });
export const messageIdParams = z.object({ id: numericIdParam });

const messageId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const listConversationsQuery = z.object({
  limit: limitQuery,
  cursor: z.string().max(512).regex(/^[A-Za-z0-9_-]*$/, 'is not a valid cursor').optional().describe('pagination.nextCursor of the previous page'),
});

export const listMessagesQuery = z.object({
  limit: limitQuery,
  before: messageId.optional().describe('Messages older than this id (the page ends just before it)'),
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Messages newer than this id (0: from the first); the page starts just after it'),
  around: messageId.optional().describe('About half the page up to and including this id, the rest after it'),
});

export const sendMessageBody = (maxLength: number) =>
  z.object({
    text: safeText(maxLength).describe(`The message, trimmed, 1..${maxLength} characters`),
    links: z.array(linkSchema).max(MAX_LINKS).optional().describe(`Up to ${MAX_LINKS} http(s) links`),
    clientMessageId: z
      .string()
      .min(1)
      .max(64)
      .regex(CLIENT_MESSAGE_ID, 'letters, digits and . _ : - only')
      .describe('Made up by the client per message and sent again on every retry: a retry returns the first message (200), never a second'),
  });

export const editMessageBody = (maxLength: number) =>
  z.object({
    text: safeText(maxLength).describe(`The new text, 1..${maxLength} characters`),
    links: z.array(linkSchema).max(MAX_LINKS).optional().describe('The new links (left out: kept as they were)'),
  });

export const joinBody = z
  .object({ note: safeText(500).optional().describe('Why you join, shown in the system message') })
  .optional();

export const readBody = z.object({ lastReadMessageId: messageId.describe('The newest message of this conversation the reader has seen') });

const editSchema = z.object({
  body: z.string().max(100_000).regex(NO_NUL_PATTERN),
  links: z.array(z.string().max(2048)).max(MAX_LINKS),
  editedAt: z.date().describe('When this text was replaced'),
});

export const messageSchema = z.object({
  id: z.number().int().describe('Increases within a conversation in the order messages were sent'),
  conversationId: z.uuid().max(36),
  senderId: userIdSchema.nullable().describe('null for a system message'),
  kind: z.enum(messageKinds),
  body: z.string().max(100_000).nullable().describe('null once deleted (admins still see the text)'),
  links: z.array(z.string().max(2048)).max(MAX_LINKS),
  clientMessageId: z.string().max(64).nullable(),
  systemEvent: z.string().max(100).nullable().describe('A system message\'s cause, e.g. `bounty.approve`'),
  createdAt: z.date(),
  editedAt: z.date().nullable(),
  deleted: z.boolean(),
  deletedAt: z.date().nullable(),
  edits: z.array(editSchema).max(1000).optional().describe('Admins only: what the message said before each edit, oldest first'),
});
export type MessageView = z.infer<typeof messageSchema>;

/** The answer to a send: the message, and a warning when it asked to contact or pay off the platform. */
export const sentMessageSchema = messageSchema.extend({
  warning: z
    .object({
      code: z.string().max(64).describe('OFF_PLATFORM_CONTACT'),
      message: z.string().max(500),
    })
    .optional()
    .describe('Only on a new message that showed contact details or a payment outside BOUNTYExpo: it was sent, and counted'),
});

export const memberSchema = z.object({
  userId: userIdSchema,
  name: z.string().max(200).nullable(),
  role: z.enum(memberRoles).describe('poster, hunter, or an admin who joined a disputed conversation'),
  lastReadMessageId: z.number().int().describe('Read receipts: everything up to this id was read'),
  joinedAt: z.date(),
});
export type MemberView = z.infer<typeof memberSchema>;

export const conversationSchema = z.object({
  id: z.uuid().max(36),
  bounty: z.object({ id: z.uuid().max(36), title: z.string().max(200), state: z.enum(bountyStates) }),
  members: z.array(memberSchema).max(50),
  myRole: z.enum(memberRoles).nullable().describe('null for an admin reading without having joined'),
  readOnly: z.boolean().describe("true once the hunter's request is no longer live (rejected, withdrawn, removed)"),
  lastMessage: messageSchema.nullable(),
  lastMessageAt: z.date().nullable(),
  unreadCount: z.number().int().min(0).describe('Messages not sent by you after your last read one'),
  createdAt: z.date(),
});
export type ConversationView = z.infer<typeof conversationSchema>;

export const unreadSchema = z.object({
  total: z.number().int().min(0),
  conversations: z.array(z.object({ conversationId: z.uuid().max(36), unreadCount: z.number().int().min(1) })).max(1000),
});

export const messagesPageSchema = z.object({
  success: z.literal(true),
  data: z.array(messageSchema).max(100).describe('Oldest first, always'),
  pagination: z.object({
    nextBefore: z.number().int().nullable().describe('Pass as ?before= for the older page; null when nothing is older'),
    nextAfter: z.number().int().nullable().describe('Pass as ?after= for the newer page; null when nothing was newer when read'),
  }),
});

export const readResultSchema = z.object({
  conversationId: z.uuid().max(36),
  lastReadMessageId: z.number().int(),
  unreadCount: z.number().int().min(0),
});


