/**
 * Preferences by category x channel. Only a person's changes are stored; the rest are the
 * catalog's defaults. Money and security are always sent at once: `off` and `digest` (a day's
 * delay) are refused for them with 422 naming them, never silently kept; only email has a digest.
 */
import { and, eq, sql } from 'drizzle-orm';
import {
  type Database,
  type DatabaseSession,
  type DeliveryChannel,
  type NotificationCategory,
  notificationCategories,
  notificationPreferences,
  type PreferenceSetting,
  type Transaction,
} from '../../db';
import { DEFAULT_SETTINGS, LOCKED_CATEGORIES } from './catalog';
import { NOTIFICATIONS_ERRORS } from './errors';
import type { PreferenceChange, PreferencesView } from './schemas';

export type ChannelSettings = Record<DeliveryChannel, PreferenceSetting>;

type Override = { category: NotificationCategory; channel: DeliveryChannel; setting: PreferenceSetting };

function effective(category: NotificationCategory, overrides: readonly Override[]): ChannelSettings {
  const settings: ChannelSettings = { ...DEFAULT_SETTINGS[category] };
  for (const override of overrides) {
    if (override.category !== category) continue;
    // A locked category is sent at once, whatever a row says (rows are refused on write too; one
    // stored before `digest` was refused is read as the default).
    if (override.setting !== 'on' && LOCKED_CATEGORIES.has(category)) continue;
    settings[override.channel] = override.setting;
  }
  return settings;
}

function matrixOf(overrides: readonly Override[]): PreferencesView {
  return {
    inApp: 'always',
    categories: notificationCategories.map((category) => {
      const settings = effective(category, overrides);
      return {
        category,
        locked: LOCKED_CATEGORIES.has(category),
        push: { setting: settings.push, default: DEFAULT_SETTINGS[category].push },
        email: { setting: settings.email, default: DEFAULT_SETTINGS[category].email },
      };
    }),
  };
}

const overridesOf = (db: Pick<Database, 'select'>, userId: string): Promise<Override[]> =>
  db
    .select({ category: notificationPreferences.category, channel: notificationPreferences.channel, setting: notificationPreferences.setting })
    .from(notificationPreferences)
    .where(eq(notificationPreferences.userId, userId));

/** What a recipient's channels are for one category (dispatch). */
export async function settingsFor(tx: Transaction, userId: string, category: NotificationCategory): Promise<ChannelSettings> {
  const rows = await tx
    .select({ category: notificationPreferences.category, channel: notificationPreferences.channel, setting: notificationPreferences.setting })
    .from(notificationPreferences)
    .where(and(eq(notificationPreferences.userId, userId), eq(notificationPreferences.category, category)));
  return effective(category, rows);
}

export async function getPreferences(db: DatabaseSession, userId: string): Promise<PreferencesView> {
  return matrixOf(await db.read((reader) => overridesOf(reader, userId)));
}

/**
 * Applies the changes as one: every refused change is named in one 422 and nothing is written.
 * A change back to the default removes the stored row.
 */
export async function updatePreferences(db: DatabaseSession, userId: string, changes: readonly PreferenceChange[], now: Date): Promise<PreferencesView> {
  // A digest would hold a money or security notice for up to a day: refused like off.
  const locked = changes.filter((change) => change.setting !== 'on' && LOCKED_CATEGORIES.has(change.category));
  if (locked.length > 0) {
    throw NOTIFICATIONS_ERRORS.error(
      'CATEGORY_LOCKED',
      `${[...new Set(locked.map((change) => change.category))].join(' and ')} notices cannot be switched off or sent as a digest`,
      locked.map((change) => ({ path: `${change.category}.${change.channel}`, message: `cannot be ${change.setting}` })),
    );
  }
  const digestPush = changes.filter((change) => change.setting === 'digest' && change.channel !== 'email');
  if (digestPush.length > 0) {
    throw NOTIFICATIONS_ERRORS.error('DIGEST_EMAIL_ONLY', undefined, digestPush.map((change) => ({ path: `${change.category}.${change.channel}`, message: 'digest is for email only' })));
  }
  // The last change of a (category, channel) wins, as a client sending a list would expect.
  const last = new Map(changes.map((change) => [`${change.category}.${change.channel}`, change]));
  return db.transaction(async (tx) => {
    for (const change of last.values()) {
      const where = and(
        eq(notificationPreferences.userId, userId),
        eq(notificationPreferences.category, change.category),
        eq(notificationPreferences.channel, change.channel),
      );
      if (DEFAULT_SETTINGS[change.category][change.channel] === change.setting) {
        await tx.delete(notificationPreferences).where(where);
        continue;
      }
      await tx
        .insert(notificationPreferences)
        .values({ userId, category: change.category, channel: change.channel, setting: change.setting, updatedAt: now })
        .onConflictDoUpdate({
          target: [notificationPreferences.userId, notificationPreferences.category, notificationPreferences.channel],
          set: { setting: sql`excluded.setting`, updatedAt: now },
        });
    }
    return matrixOf(await overridesOf(tx, userId));
  });
}
