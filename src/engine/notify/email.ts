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
  /** Sends one mail. @throws {Error} with the SMTP server's reason when it is refused or unreachable. */
  send(msg: EmailMessage): Promise<void>;
  close(): void;
}

/** Sends mail through nodemailer's SMTP transport, with bounded connect and socket waits. */
export function smtpSender(settings: SmtpSettings): EmailSender {
  const transport = nodemailer.createTransport({
    url: settings.url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async send(msg) {
      await transport.sendMail({ from: settings.from, to: msg.to, subject: msg.subject, text: msg.text });
    },
    close() {
      transport.close();
    },
  };
}
