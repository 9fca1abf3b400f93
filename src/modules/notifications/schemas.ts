/** The notifications routes' edges. */
import { z } from 'zod';
import { deliveryChannels, deliveryStatuses, notificationCategories, preferenceSettings } from '../../db';
import { cursorQuery, limitQuery, NO_NUL_PATTERN, numericIdParam } from '../../lib/validation';

export const notificationIdParams = z.object({ id: numericIdParam });

export const listNotificationsQuery = z.object({
  limit: limitQuery,
  cursor: cursorQuery,
  unread: z
    .enum(['true', 'false'])
    .optional()
    .describe('true: only notifications not read yet'),
});

export const deadLettersQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

export const notificationSchema = z.object({
  id: z.number().int().positive(),
  topic: z.string().max(100).describe('What happened, e.g. bounty.approve'),
  category: z.enum(notificationCategories),
  title: z.string().max(200),
  body: z.string().max(1000),
  subject: z.object({ type: z.string().max(50), id: z.string().max(100) }).describe('What it is about (a bounty, a request, a conversation...)'),
  data: z.record(z.string().max(100), z.unknown()).describe("The event's details"),
  createdAt: z.date(),
  seenAt: z.date().nullable().describe('Set by POST /notifications/seen (the badge)'),
  readAt: z.date().nullable().describe('Set when opened, or by read-all'),
});
export type NotificationView = z.infer<typeof notificationSchema>;

export const unseenCountSchema = z.object({ unseen: z.number().int().min(0) });
export const markedSchema = z.object({ marked: z.number().int().min(0).describe('How many notifications changed') });

const channelSettings = z.object({
  setting: z.enum(preferenceSettings),
  default: z.enum(preferenceSettings),
});

export const preferenceRowSchema = z.object({
  category: z.enum(notificationCategories),
  locked: z.boolean().describe('true: always sent at once, never off or digest (money, security)'),
  push: channelSettings,
  email: channelSettings,
});
export const preferencesSchema = z.object({
  inApp: z.literal('always').describe('Every notification is in the feed, whatever the channels'),
  categories: z.array(preferenceRowSchema).max(notificationCategories.length),
});
export type PreferencesView = z.infer<typeof preferencesSchema>;

export const updatePreferencesBody = z.object({
  preferences: z
    .array(
      z.object({
        category: z.enum(notificationCategories),
        channel: z.enum(deliveryChannels),
        setting: z.enum(preferenceSettings).describe('digest: email only (one email a day), and not for money or security'),
      }),
    )
    .min(1)
    .max(notificationCategories.length * deliveryChannels.length),
});
export type PreferenceChange = z.infer<typeof updatePreferencesBody>['preferences'][number];

export const PUSH_TOKEN_MAX = 200;
export const registerDeviceBody = z.object({
  token: z.string().trim().min(1).max(PUSH_TOKEN_MAX).regex(NO_NUL_PATTERN).describe('An Expo push token: ExponentPushToken[...]'),
  platform: z.enum(['ios', 'android', 'web']).optional(),
});
/** The token goes in the body: a URL carrying it would put it in access logs. */
export const removeDeviceBody = z.object({ token: z.string().trim().min(1).max(PUSH_TOKEN_MAX).regex(NO_NUL_PATTERN).describe('The Expo push token to remove') });

export const deviceSchema = z.object({
  token: z.string().max(PUSH_TOKEN_MAX),
  platform: z.string().max(20).nullable(),
  createdAt: z.date(),
  lastSeenAt: z.date(),
});
export type DeviceView = z.infer<typeof deviceSchema>;

export const deadLetterSchema = z.object({
  id: z.number().int().positive().describe('The delivery'),
  notificationId: z.number().int().positive(),
  recipientId: z.string().max(64),
  topic: z.string().max(100),
  channel: z.enum(deliveryChannels),
  status: z.enum(deliveryStatuses),
  attempts: z.number().int().min(0),
  lastError: z.string().max(2000).nullable(),
  createdAt: z.date(),
});
export type DeadLetterView = z.infer<typeof deadLetterSchema>;
