/**
 * Push devices: Expo push tokens. A token is one phone's install, so registering it again moves it
 * to whoever registers it now (a shared phone, an account switch): the previous account stops
 * getting that phone's pushes. Removal is by its owner only; anyone else's token is a 404.
 *
 * Each account a token was registered by is linked to the device (src/modules/risk: a sha256 of
 * the token in account_links), and the risk rules flag an account when more accounts than
 * RISK_LINKED_ACCOUNTS_MAX share one device.
 */
import { and, eq } from 'drizzle-orm';
import type { RiskSettings } from '../../config/env';
import { type DatabaseSession, pushDevices } from '../../db';
import { linkDevice } from '../risk/service';
import { NOTIFICATIONS_ERRORS } from './errors';
import type { DeviceView } from './schemas';

/**
 * Expo's own check (`Expo.isExpoPushToken` in expo-server-sdk), repeated here: importing the SDK
 * fixes its base URL for the whole process (it reads EXPO_BASE_URL at import), which only the
 * push module may decide (push.ts).
 */
export function isExpoPushToken(token: string): boolean {
  return (
    ((token.startsWith('ExponentPushToken[') || token.startsWith('ExpoPushToken[')) && token.endsWith(']')) ||
    /^[a-z\d]{8}-[a-z\d]{4}-[a-z\d]{4}-[a-z\d]{4}-[a-z\d]{12}$/i.test(token)
  );
}

const toView = (row: typeof pushDevices.$inferSelect): DeviceView => ({
  token: row.token,
  platform: row.platform,
  createdAt: row.createdAt,
  lastSeenAt: row.lastSeenAt,
});

export async function registerDevice(
  db: DatabaseSession,
  userId: string,
  input: { token: string; platform?: string | undefined },
  now: Date,
  risk: RiskSettings,
): Promise<DeviceView> {
  if (!isExpoPushToken(input.token)) throw NOTIFICATIONS_ERRORS.error('INVALID_PUSH_TOKEN', undefined, [{ path: 'token', message: 'is not an Expo push token' }]);
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(pushDevices)
      .values({ token: input.token, userId, platform: input.platform ?? null, createdAt: now, lastSeenAt: now })
      .onConflictDoUpdate({
        target: pushDevices.token,
        // Moving to another account starts it afresh there.
        set: { userId, platform: input.platform ?? null, lastSeenAt: now },
      })
      .returning();
    if (!row) throw new Error('push device upsert returned no row');
    await linkDevice(tx, { settings: risk, userId, token: input.token, now });
    return toView(row);
  });
}

export async function removeDevice(db: DatabaseSession, userId: string, token: string): Promise<void> {
  const removed = await db.write((writer) =>
    writer.delete(pushDevices).where(and(eq(pushDevices.token, token), eq(pushDevices.userId, userId))).returning({ token: pushDevices.token }),
  );
  if (removed.length === 0) throw NOTIFICATIONS_ERRORS.error('DEVICE_NOT_FOUND');
}
