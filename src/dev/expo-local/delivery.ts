/**
 * `bun run dev`'s local delivery servers: without EXPO_BASE_URL / EXPO_ACCESS_TOKEN the local Expo
 * push server, without SMTP_URL the local SMTP server, on the configured ports, each logging where
 * it listens and what it receives (a push the other side's approval sent shows in this log).
 * Never in production (config refuses a missing SMTP_URL there; localExpo is false there).
 */
import type { AppConfig } from '../../config/env';
import type { Logger } from '../../lib/logger';
import { type LocalSmtp, startLocalSmtp } from '../smtp-local';
import { type LocalExpo, startLocalExpo } from '.';

export type LocalDeliveryServers = { expo: LocalExpo | null; smtp: LocalSmtp | null; stop(): Promise<void> };

export async function startLocalDeliveryServers(config: AppConfig, logger: Logger): Promise<LocalDeliveryServers> {
  const { notifications } = config;
  if (config.isProduction) return { expo: null, smtp: null, stop: async () => {} };
  const expo = notifications.localExpo ? startLocalExpo({ port: notifications.localExpoPort, hostname: '127.0.0.1', logger }) : null;
  const smtp = notifications.localSmtp ? await startLocalSmtp({ port: notifications.localSmtpPort, hostname: '127.0.0.1', logger }) : null;
  if (expo || smtp) logger.warn({ expo: expo?.url, smtp: smtp?.url }, 'push and email go to local servers (development only): see their log lines');
  return {
    expo,
    smtp,
    stop: async () => {
      await expo?.stop();
      await smtp?.stop();
    },
  };
}
