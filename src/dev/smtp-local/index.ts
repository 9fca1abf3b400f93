/**
 * A local SMTP server for development and tests (smtp-server, from nodemailer's authors): it
 * accepts every mail on loopback, parses it (mailparser) and records it; the service's own
 * nodemailer transport sends to it (SMTP_URL), so email takes the production path. No TLS and no
 * AUTH are offered: it never leaves loopback.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { Logger } from '../../lib/logger';

export type RecordedMail = {
  /** The envelope's sender and recipients (what the SMTP client said), lower-cased. */
  from: string | null;
  to: string[];
  subject: string;
  text: string;
  html: string | null;
  headerTo: string | null;
  receivedAt: Date;
};

export type LocalSmtp = {
  /** smtp://127.0.0.1:<port> (SMTP_URL). */
  url: string;
  port: number;
  readonly mails: readonly RecordedMail[];
  mailsTo(address: string): RecordedMail[];
  /** The next `count` mails are refused with 451 (a temporary failure: the client retries later). */
  failNext(count: number): void;
  waitForMail(check: (mail: RecordedMail) => boolean, timeoutMs?: number): Promise<RecordedMail>;
  reset(): void;
  stop(): Promise<void>;
};

export type LocalSmtpOptions = { port?: number; hostname?: string; logger?: Pick<Logger, 'info' | 'warn'> };

class TemporaryFailure extends Error {
  readonly responseCode = 451;
}

export async function startLocalSmtp(options: LocalSmtpOptions = {}): Promise<LocalSmtp> {
  const logger = options.logger;
  const mails: RecordedMail[] = [];
  let failing = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    banner: 'BOUNTYExpo local SMTP',
    onData(stream, session, callback) {
      if (failing > 0) {
        failing -= 1;
        stream.resume();
        stream.on('end', () => callback(new TemporaryFailure('Try again later (local SMTP failing as asked)')));
        return;
      }
      simpleParser(stream).then(
        (parsed) => {
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : null;
          const mail: RecordedMail = {
            from,
            to: session.envelope.rcptTo.map((recipient) => recipient.address.toLowerCase()),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : null,
            headerTo: parsed.to ? (Array.isArray(parsed.to) ? parsed.to.map((to) => to.text).join(', ') : parsed.to.text) : null,
            receivedAt: new Date(),
          };
          mails.push(mail);
          logger?.info({ to: mail.to, subject: mail.subject }, 'local SMTP: mail received');
          callback();
        },
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    },
  });
  const hostname = options.hostname ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, hostname, () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  const url = `smtp://${hostname}:${port}`;
  logger?.info({ url }, 'local SMTP server listening');
  return {
    url,
    port,
    get mails() {
      return mails;
    },
    mailsTo: (address) => mails.filter((mail) => mail.to.includes(address.toLowerCase())),
    failNext(count) {
      failing += count;
    },
    async waitForMail(check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = mails.find(check);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`local SMTP: the expected mail did not arrive within ${timeoutMs} ms (got ${mails.length})`);
        await Bun.sleep(25);
      }
    },
    reset() {
      mails.length = 0;
      failing = 0;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
