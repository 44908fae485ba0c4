import nodemailer from 'nodemailer';

/** SMTP settings from the environment (`SMTP_URL`, `SMTP_FROM`). */
export interface SmtpSettings {
  /** e.g. `smtp://user:pass@mail.example.com:587` or `smtps://…:465` (nodemailer connection URL). */
  url: string;
  /** The sender, e.g. `openOrchestrator <bots@example.com>`. */
  from: string;
}

/** One plain-text mail. */
export interface EmailMessage {
  to: string[];
  subject: string;
  text: string;
}

/** Something that sends mail: SMTP through nodemailer, or any transport in tests. */
export interface EmailSender {
  /**
   * Sends one mail; `signal` gives up on it (the connection is closed).
   * @throws {Error} with the SMTP server's reason when it is refused or unreachable, or an
   *   `AbortError` (`code: 'EABORT'`) when `signal` aborted it.
   */
  send(msg: EmailMessage, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/**
 * Longest one mail may take, in ms, however the server trickles: connecting, its greeting and each
 * reply are bounded by nodemailer's own timeouts below, the whole delivery by this.
 */
export const EMAIL_TIMEOUT_MS = 60_000;

/**
 * Sends mail through nodemailer's SMTP transport: at most 10 s to connect, 10 s for the greeting,
 * 20 s of silence on the socket, {@link EMAIL_TIMEOUT_MS} in all; an aborted send closes its
 * connection at once (nodemailer's per-message `signal`, https://nodemailer.com/message/#abort).
 */
export function smtpSender(settings: SmtpSettings): EmailSender {
  const transport = nodemailer.createTransport({
    url: settings.url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    // A given-up connection is destroyed, not left waiting for a server that says nothing.
    socketCloseTimeout: 0,
  });
  return {
    async send(msg, signal) {
      const bound = AbortSignal.timeout(EMAIL_TIMEOUT_MS);
      await transport.sendMail({ from: settings.from, to: msg.to, subject: msg.subject, text: msg.text, signal: signal ? AbortSignal.any([signal, bound]) : bound });
    },
    close() {
      transport.close();
    },
  };
}
