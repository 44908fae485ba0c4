import { assertAccess, readScope, type Caller } from '../access.ts';
import { and, asc, eq, isNull, or } from 'drizzle-orm';
import type { BotService } from '../bots.ts';
import { validationError } from '../bots.ts';
import type { Db } from '../db/database.ts';
import { agents, bots, type AgentRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { resolveBotRef } from '../triggers.ts';
import type { ApiKeyService } from './api-keys.ts';
import type { AuditLog } from './audit.ts';
import { agentEnrolSchema, agentRegisterSchema, type AgentRole } from './schemas.ts';

/**
 * The swarm's agents (seed 004 BotInfo): bots of this server given a role (planner, executor with
 * skills, evaluator), whose turns are runs, and external bots that registered over the API, whose
 * turns they fetch by long-polling. One role per bot.
 */
export class AgentService {
  constructor(
    private readonly deps: { db: Db; bots: BotService; keys: ApiKeyService; audit: AuditLog; now: () => number },
  ) {}

  /**
   * Gives a bot of this server a swarm role. With `caller`, only a bot they may change (another
   * user's is BOT_NOT_FOUND, a viewer FORBIDDEN_ROLE).
   * @throws {AppError} VALIDATION_FAILED, BOT_NOT_FOUND, FORBIDDEN_ROLE, AGENT_BOT_TAKEN (the bot has a role already)
   */
  async enrol(input: unknown, actor: string, caller?: Caller): Promise<AgentRow> {
    const parsed = agentEnrolSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const bot = await resolveBotRef(this.deps.bots, parsed.data.bot, readScope(caller));
    if (caller) assertAccess(caller, bot.ownerId, 'write', { code: 'BOT_NOT_FOUND', message: `No bot with id ${bot.id}.` });
    const taken = await this.forBot(bot.id);
    if (taken) throw new AppError('AGENT_BOT_TAKEN', `${bot.emoji} ${bot.name} is already the swarm's ${taken.role} (agent #${taken.id}); remove that role first.`);
    const [inserted] = await this.deps.db
      .insert(agents)
      .values({ name: bot.name, role: parsed.data.role, skills: unique(parsed.data.skills), kind: 'bot', botId: bot.id, createdAt: this.deps.now() })
      .returning();
    const row = inserted!;
    await this.deps.audit.record({ actor, event: 'agent.enrolled', payload: { agent_id: row.id, bot_id: bot.id, name: row.name, role: row.role, skills: row.skills } });
    return row;
  }

  /**
   * Registers an external bot and issues its key (scope `agents`, bound to it).
   * @returns the agent and its key, shown this once.
   * @throws {AppError} VALIDATION_FAILED
   */
  async register(input: unknown, actor: string): Promise<{ agent: AgentRow; key: string }> {
    const parsed = agentRegisterSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const now = this.deps.now();
    const [inserted] = await this.deps.db
      .insert(agents)
      .values({ name: v.name, role: v.role, skills: unique(v.skills), version: v.version, kind: 'external', lastSeenAt: now, createdAt: now })
      .returning();
    const agent = inserted!;
    const { key } = await this.deps.keys.create({ name: `agent #${agent.id} ${v.name}`.slice(0, 64), scopes: ['agents'] }, actor, agent.id);
    await this.deps.audit.record({ actor, event: 'agent.registered', payload: { agent_id: agent.id, name: v.name, role: v.role, skills: agent.skills, version: v.version } });
    return { agent, key };
  }

  /** Agents not removed, oldest first; with `role`, only those. */
  async list(role?: AgentRole): Promise<AgentRow[]> {
    const live = isNull(agents.removedAt);
    return this.deps.db
      .select()
      .from(agents)
      .where(role ? and(live, eq(agents.role, role)) : live)
      .orderBy(asc(agents.id));
  }

  /**
   * Live agents of `role` that may work on a task of user `ownerId`: bots of that user, and
   * external agents (they act through API keys, and hold no bots of anyone). A task never runs
   * on another user's bot.
   */
  async listFor(role: AgentRole, ownerId: number): Promise<AgentRow[]> {
    const rows = await this.deps.db
      .select({ agent: agents })
      .from(agents)
      .leftJoin(bots, eq(bots.id, agents.botId))
      .where(and(isNull(agents.removedAt), eq(agents.role, role), or(eq(agents.kind, 'external'), eq(bots.ownerId, ownerId))))
      .orderBy(asc(agents.id));
    return rows.map((r) => r.agent);
  }

  /** @throws {AppError} AGENT_NOT_FOUND (also for a removed agent) */
  async get(id: number): Promise<AgentRow> {
    const row = await this.find(id);
    if (!row || row.removedAt !== null) throw new AppError('AGENT_NOT_FOUND', `No agent with id ${id}.`);
    return row;
  }

  /** The agent row, removed or not; undefined when there never was one. */
  async find(id: number): Promise<AgentRow | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    const [row] = await this.deps.db.select().from(agents).where(eq(agents.id, id));
    return row;
  }

  /** The live agent of a bot of this server, if the bot has a role. */
  async forBot(botId: number): Promise<AgentRow | undefined> {
    const [row] = await this.deps.db.select().from(agents).where(and(eq(agents.botId, botId), isNull(agents.removedAt))).limit(1);
    return row;
  }

  /** Notes that an external agent was heard from (poll, heartbeat, result). */
  async seen(id: number): Promise<void> {
    await this.deps.db.update(agents).set({ lastSeenAt: this.deps.now() }).where(eq(agents.id, id));
  }

  /**
   * Removes an agent: it gets no more assignments and its keys are revoked. A bot keeps existing;
   * only its role goes. The caller returns the agent's open assignments to the pool.
   * @throws {AppError} AGENT_NOT_FOUND
   */
  async remove(id: number, actor: string): Promise<AgentRow> {
    const row = await this.get(id);
    const [out] = await this.deps.db.update(agents).set({ removedAt: this.deps.now(), botId: null }).where(eq(agents.id, id)).returning();
    await this.deps.keys.revokeForAgent(id, actor);
    await this.deps.audit.record({ actor, event: 'agent.removed', payload: { agent_id: id, name: row.name, role: row.role } });
    return out!;
  }
}

function unique(skills: string[]): string[] {
  return [...new Set(skills)];
}
