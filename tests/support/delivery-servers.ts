/**
 * One local Expo push server and one local SMTP server per test process, started on first use.
 * expo-server-sdk reads EXPO_BASE_URL once, when first imported, so every app of the process that
 * pushes must point at the same server: pass `deliveryOverrides()` to startTestApp.
 */
import { type LocalExpo, startLocalExpo } from '../../src/dev/expo-local';
import { type LocalSmtp, startLocalSmtp } from '../../src/dev/smtp-local';

export type DeliveryServers = { expo: LocalExpo; smtp: LocalSmtp; overrides: { EXPO_BASE_URL: string; SMTP_URL: string } };

let started: Promise<DeliveryServers> | null = null;

export function deliveryServers(): Promise<DeliveryServers> {
  started ??= (async () => {
    const expo = startLocalExpo();
    const smtp = await startLocalSmtp();
    return { expo, smtp, overrides: { EXPO_BASE_URL: expo.url, SMTP_URL: smtp.url } };
  })();
  return started;
}
