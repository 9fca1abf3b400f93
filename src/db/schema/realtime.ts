/**
 * Real time: conversations and their messages, each person's event stream (what a WebSocket
 * replays after a reconnect), blocks, and notifications with their deliveries, preferences and
 * push devices.
 *
 * What must always hold is enforced here or by triggers in drizzle/0008_realtime_rules.sql:
 * - one conversation per (bounty, hunter); its members are the poster, the hunter and admins who
 *   joined it;
 * - a client's retried send is one message: unique (conversation, sender, clientMessageId);
 * - a person's events are numbered 1, 2, 3... in commit order (`user_event_cursors` hands out the
 *   numbers under a row lock held to commit);
 * - one notification per (outbox event, recipient), one delivery per (notification, channel): a
 *   retried job never notifies twice;
 * - messages and their edit history are never deleted (a delete is soft: the text is evidence).
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { inList } from './checks';
import { bounties, outboxEvents } from './marketplace';

export const memberRoles = ['poster', 'hunter', 'admin'] as const;
export type MemberRole = (typeof memberRoles)[number];

/** One per (bounty, hunter): the application thread before acceptance, the work room after. */
export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    bountyId: uuid('bounty_id')
      .notNull()
      .references(() => bounties.id),
    posterId: text('poster_id').notNull(),
    hunterId: text('hunter_id').notNull(),
    lastMessageId: bigint('last_message_id', { mode: 'number' }),
    lastMessageAt: timestamp('last_message_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [unique('conversations_bounty_hunter').on(table.bountyId, table.hunterId)],
);

export const conversationMembers = pgTable(
  'conversation_members',
  {
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id),
    userId: text('user_id').notNull(),
    role: text('role').$type<MemberRole>().notNull(),
    /** Read receipts and unread counts: everything up to this message id has been read. */
    lastReadMessageId: bigint('last_read_message_id', { mode: 'number' }).notNull().default(0),
    /** The conversation's last activity, copied here so "mine, newest first" walks one index. */
    activityAt: timestamp('activity_at', { withTimezone: true }).notNull(),
    joinedAt: timestamp('joined_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.conversationId, table.userId] }),
    index('conversation_members_user_activity_idx').on(table.userId, table.activityAt.desc(), table.conversationId.desc()),
    check('conversation_members_role_check', sql`${table.role} in (${inList(memberRoles)})`),
  ],
);

export const messageKinds = ['text', 'system'] as const;
export type MessageKind = (typeof messageKinds)[number];

export const messages = pgTable(
  'messages',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id),
    /** Null for a system message (a bounty transition). */
    senderId: text('sender_id'),
    kind: text('kind').$type<MessageKind>().notNull(),
    body: text('body').notNull(),
    links: jsonb('links').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    clientMessageId: text('client_message_id'),
    /** A system message's cause, e.g. `bounty.approve`. */
    systemEvent: text('system_event'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    editedAt: timestamp('edited_at', { withTimezone: true }),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    /** Hidden by a moderator (a report resolved by removing it): the text stays for admins, like a delete. */
    hiddenAt: timestamp('hidden_at', { withTimezone: true }),
  },
  (table) => [
    unique('messages_client_message_id').on(table.conversationId, table.senderId, table.clientMessageId),
    index('messages_conversation_id_idx').on(table.conversationId, table.id),
    check('messages_kind_check', sql`${table.kind} in (${inList(messageKinds)})`),
    check('messages_sender_kind', sql`(${table.kind} = 'system') = (${table.senderId} is null)`),
  ],
);

/** What a message said before each edit (append-only by trigger). */
export const messageEdits = pgTable(
  'message_edits',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    messageId: bigint('message_id', { mode: 'number' })
      .notNull()
      .references(() => messages.id),
    previousBody: text('previous_body').notNull(),
    previousLinks: jsonb('previous_links').$type<string[]>().notNull(),
    editedAt: timestamp('edited_at', { withTimezone: true }).notNull(),
  },
  (table) => [index('message_edits_message_idx').on(table.messageId, table.id)],
);

/** A member owes a reminder once a message waited UNREAD_REMINDER_MIN unread (one row per member). */
export const unreadReminders = pgTable(
  'unread_reminders',
  {
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id),
    userId: text('user_id').notNull(),
    dueAt: timestamp('due_at', { withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.conversationId, table.userId] }), index('unread_reminders_due_idx').on(table.dueAt)],
);

/** `blocker` does not want to hear from `blocked` (the trust issue adds the routes). */
export const userBlocks = pgTable(
  'user_blocks',
  {
    blockerId: text('blocker_id').notNull(),
    blockedId: text('blocked_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.blockerId, table.blockedId] }),
    index('user_blocks_blocked_idx').on(table.blockedId, table.blockerId),
    // GET /blocks: whom one blocked, newest first.
    index('user_blocks_blocker_created_idx').on(table.blockerId, table.createdAt.desc().nullsFirst(), table.blockedId.desc().nullsFirst()),
    check('user_blocks_not_self', sql`${table.blockerId} <> ${table.blockedId}`),
  ],
);

/** The last event number handed out per person (its row lock orders a person's events by commit). */
export const userEventCursors = pgTable('user_event_cursors', {
  userId: text('user_id').primaryKey(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
});

/** What a person's sockets are sent, numbered per person; a reconnecting client asks for "after N". */
export const userEvents = pgTable(
  'user_events',
  {
    userId: text('user_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.seq] }), index('user_events_created_idx').on(table.createdAt)],
);

export const notificationCategories = ['money', 'security', 'bounties', 'requests', 'messages', 'reviews'] as const;
export type NotificationCategory = (typeof notificationCategories)[number];
export const deliveryChannels = ['push', 'email'] as const;
export type DeliveryChannel = (typeof deliveryChannels)[number];

/** The in-app feed: one per (outbox event, recipient). */
export const notifications = pgTable(
  'notifications',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    eventId: bigint('event_id', { mode: 'number' })
      .notNull()
      .references(() => outboxEvents.id),
    recipientId: text('recipient_id').notNull(),
    topic: text('topic').notNull(),
    category: text('category').$type<NotificationCategory>().notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    subjectType: text('subject_type').notNull(),
    subjectId: text('subject_id').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    seenAt: timestamp('seen_at', { withTimezone: true }),
    readAt: timestamp('read_at', { withTimezone: true }),
  },
  (table) => [
    unique('notifications_event_recipient').on(table.eventId, table.recipientId),
    index('notifications_recipient_idx').on(table.recipientId, table.id.desc()),
    index('notifications_unseen_idx').on(table.recipientId, table.id).where(sql`${table.seenAt} is null`),
    index('notifications_unread_idx').on(table.recipientId, table.id).where(sql`${table.readAt} is null`),
    check('notifications_category_check', sql`${table.category} in (${inList(notificationCategories)})`),
  ],
);

export const deliveryStatuses = ['pending', 'digest', 'sent', 'skipped', 'dead'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/** A notification sent by push or email: one per (notification, channel). */
export const notificationDeliveries = pgTable(
  'notification_deliveries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    notificationId: bigint('notification_id', { mode: 'number' })
      .notNull()
      .references(() => notifications.id),
    recipientId: text('recipient_id').notNull(),
    channel: text('channel').$type<DeliveryChannel>().notNull(),
    status: text('status').$type<DeliveryStatus>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
  },
  (table) => [
    unique('notification_deliveries_one_per_channel').on(table.notificationId, table.channel),
    index('notification_deliveries_digest_idx').on(table.recipientId, table.id).where(sql`${table.status} = 'digest'`),
    index('notification_deliveries_dead_idx').on(table.id).where(sql`${table.status} = 'dead'`),
    check('notification_deliveries_channel_check', sql`${table.channel} in (${inList(deliveryChannels)})`),
    check('notification_deliveries_status_check', sql`${table.status} in (${inList(deliveryStatuses)})`),
  ],
);

/** Expo's answer to each push, checked later for its receipt. */
export const pushTickets = pgTable(
  'push_tickets',
  {
    ticketId: text('ticket_id').primaryKey(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .notNull()
      .references(() => notificationDeliveries.id),
    token: text('token').notNull(),
    receiptDueAt: timestamp('receipt_due_at', { withTimezone: true }).notNull(),
    checkedAt: timestamp('checked_at', { withTimezone: true }),
    receiptStatus: text('receipt_status'),
  },
  (table) => [index('push_tickets_due_idx').on(table.receiptDueAt).where(sql`${table.checkedAt} is null`)],
);

export const preferenceSettings = ['on', 'off', 'digest'] as const;
export type PreferenceSetting = (typeof preferenceSettings)[number];

/** Only what a person changed from the defaults (src/modules/notifications/catalog.ts). */
export const notificationPreferences = pgTable(
  'notification_preferences',
  {
    userId: text('user_id').notNull(),
    category: text('category').$type<NotificationCategory>().notNull(),
    channel: text('channel').$type<DeliveryChannel>().notNull(),
    setting: text('setting').$type<PreferenceSetting>().notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.category, table.channel] }),
    check('notification_preferences_category_check', sql`${table.category} in (${inList(notificationCategories)})`),
    check('notification_preferences_channel_check', sql`${table.channel} in (${inList(deliveryChannels)})`),
    check('notification_preferences_setting_check', sql`${table.setting} in (${inList(preferenceSettings)})`),
    // Email alone has a digest; push is now or never.
    check('notification_preferences_digest_email', sql`${table.setting} <> 'digest' or ${table.channel} = 'email'`),
  ],
);

/** Expo push tokens; a token signed in on another account moves to it. */
export const pushDevices = pgTable(
  'push_devices',
  {
    token: text('token').primaryKey(),
    userId: text('user_id').notNull(),
    platform: text('platform'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull(),
  },
  (table) => [index('push_devices_user_idx').on(table.userId)],
);

export type Conversation = typeof conversations.$inferSelect;
export type ConversationMember = typeof conversationMembers.$inferSelect;
export type Message = typeof messages.$inferSelect;
export type UserEvent = typeof userEvents.$inferSelect;
export type Notification = typeof notifications.$inferSelect;
export type NotificationDelivery = typeof notificationDeliveries.$inferSelect;
