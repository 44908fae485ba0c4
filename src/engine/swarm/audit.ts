import { and, asc, eq, gt } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { audit, type AuditRow } from '../db/schema.ts';
import { redact, type RedactionRules } from './redaction.ts';

/** What happened, as an audit row names it. */
export type AuditEvent =
  | 'task.created'
  | 'task.status'
  | 'task.planned'
  | 'task.cancelled'
  | 'assignment.created'
  | 'assignment.claimed'
  | 'assignment.expired'
  | 'assignment.failed'
  | 'result'
  | 'verdict'
  | 'agent.registered'
  | 'agent.enrolled'
  | 'agent.removed'
  | 'key.created'
  | 'key.revoked'
  | 'key.used';

/**
 * The audit trail (seed 004 AuditLog): one row per step of a task (created, planned, assigned,
 * result, verdict, state change) and per use of a key, with its actor. The payload is redacted
 * before it is stored (see redaction.ts); the row lists the paths it redacted.
 */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly rules: RedactionRules,
    private readonly now: () => number,
  ) {}

  /** Appends one row; `payload` is redacted first. */
  async record(entry: { taskId?: number | null; actor: string; event: AuditEvent; payload?: unknown }): Promise<AuditRow> {
    const { value, redactedFields } = redact(entry.payload ?? {}, this.rules);
    const actor = redact(entry.actor, this.rules);
    const [row] = await this.db
      .insert(audit)
      .values({
        taskId: entry.taskId ?? null,
        actor: actor.value as string,
        event: entry.event,
        payload: value,
        redactedFields: actor.redactedFields.length ? [...redactedFields, 'actor'] : redactedFields,
        createdAt: this.now(),
      })
      .returning();
    return row!;
  }

  /** A task's rows, oldest first, after id `afterId`, at most `limit` (1..1000). */
  async forTask(taskId: number, afterId = 0, limit = 500): Promise<AuditRow[]> {
    return this.db
      .select()
      .from(audit)
      .where(and(eq(audit.taskId, taskId), gt(audit.id, afterId)))
      .orderBy(asc(audit.id))
      .limit(Math.min(Math.max(limit, 1), 1000));
  }
}
