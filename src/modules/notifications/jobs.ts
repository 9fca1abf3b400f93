/**
 * The notification jobs (skeleton: being written): outbox fan-out, push, receipts, email, digest,
 * unread-message reminders.
 */
import type { ConversationSettings, NotificationSettings } from '../../config/env';
import type { AnyJobDefinition, RetryTiming } from '../../jobs';

export type NotificationJobDeps = {
  settings: NotificationSettings;
  conversations: ConversationSettings;
  now: () => Date;
  retry?: RetryTiming;
};

export const notificationJobs = (_deps: NotificationJobDeps): readonly AnyJobDefinition[] => [];
