import { FIRST_ADMIN_ID } from './access.ts';
import { eq, inArray, or } from 'drizzle-orm';
import { z } from 'zod';
import { TOOL_NAMES, botInputSchema, nameKey, validationError, type BotService } from './bots.ts';
import { transaction, type Db } from './db/database.ts';
import { triggers, type BotRow } from './db/schema.ts';
import type { DocsStore } from './docs.ts';
import { AppError } from './errors.ts';
import type { EventBus } from './event-bus.ts';
import { INPUT_SOURCES, MAX_PIPELINE_STEPS, OUTPUT_TARGETS, pipelineStepSchema, type PipelineService, type PipelineView } from './pipelines.ts';
import { parseModel, type ProviderName } from './providers/models.ts';
import { TRIGGER_EVENTS, type TriggerService, type TriggerView } from './triggers.ts';

/** The `format` every recipe file carries, so a file of something else is refused by name. */
export const RECIPE_FORMAT = 'openorchestrator/recipe';
/** The recipe file version this code writes and reads. */
export const RECIPE_VERSION = 1;

/** Largest document a recipe may carry for one bot, in bytes of UTF-8 (64 KiB). */
const MAX_RECIPE_DOC = 64 * 1024;

const refSchema = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'a ref is letters, digits, - or _');

/** A bot of a recipe: its settings (never secrets or where results go), a local `ref`, documents its steps read. */
const recipeBotSchema = z.object({
  ref: refSchema,
  name: botInputSchema.shape.name,
  emoji: z.string().max(16).optional(),
  description: z.string().max(2000).optional(),
  prompt: botInputSchema.shape.prompt,
  /** `provider:model`; null or missing: this instance's default model. */
  model: z.string().max(200).nullable().optional(),
  tools: z.array(z.enum(TOOL_NAMES)).max(TOOL_NAMES.length).optional(),
  schedule: z.string().max(200).nullable().optional(),
  max_steps: z.number().int().min(1).max(50).optional(),
  retries: z.number().int().min(0).max(5).optional(),
  requires_approval: z.boolean().optional(),
  approval_timeout_s: z.number().int().min(1).max(30 * 86_400).optional(),
  docs: z
    .array(z.object({ name: z.string().min(1).max(200), content: z.string().refine((c) => Buffer.byteLength(c) <= MAX_RECIPE_DOC, 'a recipe document is at most 64 KiB') }))
    .max(20)
    .optional(),
});

const recipeStepSchema = z.object({
  bot: refSchema,
  input_source: z.enum(INPUT_SOURCES).optional(),
  input_text: z.string().max(100_000).nullable().optional(),
  input_doc: z.string().max(200).nullable().optional(),
  output_target: z.enum(OUTPUT_TARGETS).optional(),
  output_doc: z.string().max(200).nullable().optional(),
  requires_approval: z.boolean().optional(),
});

/**
 * One recipe file (seed 002's "Rezepte"): bots, the pipeline of their steps, and their
 * connections, by local refs. Library recipes and exports are the same format, so a file
 * exported from one instance imports into another. It never holds secrets: no notify settings
 * (webhook URLs and secrets, e-mail addresses stay on their instance), no API keys.
 *
 * @example {"format":"openorchestrator/recipe","version":1,"name":"Dev + Test","bots":[{"ref":"dev","name":"Dev-Bot","prompt":"…"},{"ref":"test","name":"Test-Bot","prompt":"…"}],"pipeline":null,"start":"dev","connections":[{"source":"dev","event":"completed","target":"test"}]}
 */
export const recipeSchema = z
  .object({
    format: z.literal(RECIPE_FORMAT, { error: `format must be "${RECIPE_FORMAT}" (this is not a recipe file)` }),
    version: z.literal(RECIPE_VERSION, { error: `version must be ${RECIPE_VERSION}` }),
    id: z.string().max(64).optional(),
    name: z.string().trim().min(1).max(64),
    description: z.string().max(2000).optional(),
    bots: z.array(recipeBotSchema).min(1).max(MAX_PIPELINE_STEPS),
    pipeline: z
      .object({
        name: z.string().trim().min(1).max(64),
        description: z.string().max(2000).optional(),
        schedule: z.string().max(200).nullable().optional(),
        steps: z.array(recipeStepSchema).min(1).max(MAX_PIPELINE_STEPS),
      })
      .nullable()
      .optional(),
    /** Without a pipeline: the bot a person starts (its connections carry on). */
    start: refSchema.optional(),
    connections: z
      .array(
        z.object({
          source: refSchema,
          event: z.enum(TRIGGER_EVENTS),
          /** A bot's ref; or the recipe's pipeline with `target_pipeline: true`. */
          target: refSchema.optional(),
          target_pipeline: z.literal(true).optional(),
        }),
      )
      .max(50)
      .optional(),
  })
  .superRefine((r, ctx) => {
    const refs = new Set<string>();
    r.bots.forEach((b, i) => {
      if (refs.has(b.ref)) ctx.addIssue({ code: 'custom', path: ['bots', i, 'ref'], message: `ref "${b.ref}" is used twice` });
      refs.add(b.ref);
    });
    const known = (ref: string | undefined, path: (string | number)[]) => {
      if (ref !== undefined && !refs.has(ref)) ctx.addIssue({ code: 'custom', path, message: `no bot with ref "${ref}" in this recipe` });
    };
    r.pipeline?.steps.forEach((s, i) => known(s.bot, ['pipeline', 'steps', i, 'bot']));
    known(r.start, ['start']);
    r.connections?.forEach((c, i) => {
      known(c.source, ['connections', i, 'source']);
      known(c.target, ['connections', i, 'target']);
      if ((c.target === undefined) === (c.target_pipeline === undefined)) ctx.addIssue({ code: 'custom', path: ['connections', i], message: 'a connection has a target or target_pipeline: true' });
      if (c.target_pipeline && !r.pipeline) ctx.addIssue({ code: 'custom', path: ['connections', i], message: 'target_pipeline needs the recipe to have a pipeline' });
    });
  });

/** A recipe file. */
export type Recipe = z.infer<typeof recipeSchema>;

/** What creating a recipe made, so the page can go to it. */
export interface RecipeCreated {
  bots: BotRow[];
  pipeline: PipelineView | null;
  connections: TriggerView[];
  /** The bot to start when the recipe has no pipeline. */
  start: BotRow | null;
  /** Things a person should know (a model replaced by this instance's default, a name taken). */
  notes: string[];
}

/** The resources recipes work with. */
export interface RecipeDeps {
  db: Db;
  bus: EventBus;
  bots: BotService;
  pipelines: PipelineService;
  triggers: TriggerService;
  docs: DocsStore;
  /** This instance's default model for bots whose recipe names none (or an unconfigured one). */
  defaultModel: string;
  providers: ProviderName[];
}

const PREFIX = { format: RECIPE_FORMAT, version: RECIPE_VERSION } as const;

/**
 * The recipe library (seed 002: "I want a blog article → click Start"): ready recipes, each a
 * recipe file; one click creates their bots, pipeline and connections. Users' own pipelines export
 * to the same format.
 */
export const RECIPES: readonly Recipe[] = [
  {
    ...PREFIX,
    id: 'blog-article',
    name: 'Blog article',
    description: 'Research a topic, write the article, then polish it for search engines. Give it the topic as the input.',
    bots: [
      {
        ref: 'research',
        name: 'Researcher',
        emoji: '🔎',
        description: 'Collects facts and sources on a topic',
        prompt: 'Research the topic you are given. Search the web, read the best sources, and answer with a list of key facts, each with its source URL. No prose yet.',
        tools: ['web_search', 'web_fetch'],
      },
      {
        ref: 'write',
        name: 'Writer',
        emoji: '✍️',
        description: 'Turns research notes into an article',
        prompt: 'You get research notes with sources. Write a clear, friendly blog article of about 800 words from them, in Markdown, with a title and sub-headings. Cite sources as links.',
      },
      {
        ref: 'seo',
        name: 'SEO-Editor',
        emoji: '📈',
        description: 'Polishes an article for search engines',
        prompt: 'You get a blog article in Markdown. Improve its title and headings for search, add a meta description (at most 155 characters) at the top, keep the content and links. Answer with the final article only.',
      },
    ],
    pipeline: {
      name: 'Blog article',
      description: 'Research → Write → SEO',
      steps: [{ bot: 'research' }, { bot: 'write' }, { bot: 'seo', output_target: 'results' }],
    },
  },
  {
    ...PREFIX,
    id: 'answer-email',
    name: 'Answer an e-mail',
    description: 'Paste an e-mail as the input: a reader sums up what is asked, a second bot drafts the reply, and the draft waits for your approval (edit it, approve or reject).',
    bots: [
      {
        ref: 'reader',
        name: 'Mail-Reader',
        emoji: '📥',
        description: 'Reads an e-mail and says what it asks for',
        prompt: 'You get an e-mail. Answer with: who wrote it, what they ask for or need, the tone, and any dates, order numbers or names that matter. Be brief.',
      },
      {
        ref: 'reply',
        name: 'Reply-Draft',
        emoji: '✉️',
        description: 'Drafts a reply for a person to approve',
        prompt: 'You get a summary of an e-mail. Draft a polite, concrete reply in the sender’s language. Answer with the reply text only, ready to send.',
      },
    ],
    pipeline: {
      name: 'Answer an e-mail',
      description: 'Reader → Reply draft, approved by a person',
      steps: [{ bot: 'reader' }, { bot: 'reply', output_target: 'results', requires_approval: true }],
    },
  },
  {
    ...PREFIX,
    id: 'dev-test',
    name: 'Dev + Test',
    description: 'Seed 001’s pair: Dev-Bot builds what spec.md asks for; when it completes, Test-Bot tests it (a connection, no pipeline). Start Dev-Bot.',
    bots: [
      {
        ref: 'dev',
        name: 'Dev-Bot',
        emoji: '👩‍💻',
        description: 'Builds code from the spec in its folder',
        prompt: 'Read spec.md in your folder, write the code it asks for into files next to it, run it with run_code to check it works, and answer with what you built.',
        tools: ['files', 'code'],
        docs: [{ name: 'spec.md', content: '# Spec\n\nA function `slugify(title)` that turns a title into a URL slug.\n' }],
      },
      {
        ref: 'test',
        name: 'Test-Bot',
        emoji: '🧪',
        description: 'Tests what Dev-Bot built',
        prompt: 'You get a report of what Dev-Bot built. Write tests for it, run them with run_code, and answer with what passed and what failed.',
        tools: ['files', 'code'],
      },
    ],
    pipeline: null,
    start: 'dev',
    connections: [{ source: 'dev', event: 'completed', target: 'test' }],
  },
  {
    ...PREFIX,
    id: 'daily-newsletter',
    name: 'Daily research → newsletter draft',
    description: 'Every morning at 7: research the topics in topics.md and draft a newsletter into newsletter.md, for you to approve.',
    bots: [
      {
        ref: 'research',
        name: 'Daily-Researcher',
        emoji: '🗞️',
        description: 'Finds today’s news on your topics',
        prompt: 'You get a list of topics. For each, find what is new today: search the web and read the sources. Answer with short notes per topic, each with its link.',
        tools: ['web_search', 'web_fetch'],
        docs: [{ name: 'topics.md', content: '# Topics\n\n- self-hosted AI tools\n- open-source LLMs\n' }],
      },
      {
        ref: 'newsletter',
        name: 'Newsletter-Writer',
        emoji: '📰',
        description: 'Drafts the newsletter from the day’s notes',
        prompt: 'You get the day’s research notes. Write a short newsletter in Markdown: a greeting, one section per topic with the links, and a sign-off.',
      },
    ],
    pipeline: {
      name: 'Daily newsletter',
      description: 'Daily research → newsletter draft',
      schedule: '0 7 * * *',
      steps: [
        { bot: 'research', input_source: 'doc', input_doc: 'topics.md' },
        { bot: 'newsletter', output_target: 'doc', output_doc: 'newsletter.md', requires_approval: true },
      ],
    },
  },
];

/**
 * Creates recipes (from the library or an imported file) and exports a pipeline as a recipe.
 */
export class RecipeService {
  constructor(private readonly deps: RecipeDeps) {}

  /** The library, in order. */
  list(): readonly Recipe[] {
    return RECIPES;
  }

  /** @throws {AppError} RECIPE_NOT_FOUND */
  get(id: string): Recipe {
    const r = RECIPES.find((x) => x.id === id);
    if (!r) throw new AppError('RECIPE_NOT_FOUND', `No recipe "${id}"; GET /api/recipes lists them.`);
    return r;
  }

  /**
   * Creates what a recipe file describes: its bots (a taken name gets " 2", " 3", …; a model this
   * instance has no key for becomes its default model), their documents, the pipeline and the
   * connections. All of it, or nothing.
   * @param input a recipe file (see {@link recipeSchema})
   * @param ownerId the user everything made belongs to (default the first admin); names are
   *   made free among that user's bots and pipelines. Callers check the user may create.
   * @throws {AppError} VALIDATION_FAILED (not a recipe, or a bad field: every issue named)
   */
  async create(input: unknown, ownerId: number = FIRST_ADMIN_ID): Promise<RecipeCreated> {
    const parsed = recipeSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const recipe = parsed.data;
    const notes: string[] = [];
    // Steps must pass the pipeline's own rules (document names and so on) before anything is made.
    recipe.pipeline?.steps.forEach((s, i) => {
      const ok = pipelineStepSchema.safeParse({ ...s, bot_id: 1 });
      if (!ok.success) throw validationError(new z.ZodError(ok.error.issues.map((iss) => ({ ...iss, path: ['pipeline', 'steps', i, ...iss.path] }))));
    });
    return await transaction(this.deps.db, async () => {
      const byRef = new Map<string, BotRow>();
      for (const b of recipe.bots) {
        const name = await this.freeName(b.name, async (n) => (await this.deps.bots.findByName(n, ownerId)) !== undefined);
        if (name !== b.name) notes.push(`A bot named "${b.name}" already exists; this one is "${name}".`);
        let model = b.model ?? this.deps.defaultModel;
        const ref = parseModel(model);
        if (!ref || !this.deps.providers.includes(ref.provider)) {
          notes.push(`${name}: model "${model}" is not configured here; it uses ${this.deps.defaultModel}.`);
          model = this.deps.defaultModel;
        }
        const bot = await this.deps.bots.create({
          name,
          emoji: b.emoji,
          description: b.description,
          prompt: b.prompt,
          model,
          tools: b.tools,
          schedule: b.schedule ?? null,
          max_steps: b.max_steps,
          retries: b.retries,
          requires_approval: b.requires_approval,
          approval_timeout_s: b.approval_timeout_s,
        }, ownerId);
        for (const d of b.docs ?? []) this.deps.docs.write(bot.docsPath, d.name, d.content);
        byRef.set(b.ref, bot);
      }
      let pipeline: PipelineView | null = null;
      if (recipe.pipeline) {
        const pname = await this.freeName(recipe.pipeline.name, async (n) => (await this.deps.pipelines.findByName(n, ownerId)) !== undefined);
        if (pname !== recipe.pipeline.name) notes.push(`A pipeline named "${recipe.pipeline.name}" already exists; this one is "${pname}".`);
        pipeline = await this.deps.pipelines.create({
          name: pname,
          description: recipe.pipeline.description ?? recipe.description ?? '',
          schedule: recipe.pipeline.schedule ?? null,
          steps: recipe.pipeline.steps.map(({ bot, ...s }) => ({ ...s, bot_id: byRef.get(bot)!.id })),
        }, ownerId);
      }
      const connections: TriggerView[] = [];
      for (const c of recipe.connections ?? []) {
        connections.push(
          await this.deps.triggers.create({
            source_bot: byRef.get(c.source)!.id,
            event: c.event,
            ...(c.target_pipeline ? { target_pipeline: pipeline!.id } : { target_bot: byRef.get(c.target!)!.id }),
          }),
        );
      }
      const start = recipe.start ? byRef.get(recipe.start)! : null;
      this.deps.bus.emit('notice', { kind: 'recipe.created', message: `📦 ${recipe.name}: created ${[...byRef.values()].map((b) => b.name).join(', ')}${pipeline ? ` and the pipeline ${pipeline.name}` : ''}` });
      return { bots: [...byRef.values()], pipeline, connections, start, notes };
    });
  }

  /**
   * A user's pipeline as a recipe file: its steps' bots (settings, no secrets, no notify), the
   * documents its steps read (so it runs unchanged elsewhere), its steps, and the connections
   * among those bots or into this pipeline.
   * @throws {AppError} PIPELINE_NOT_FOUND, PIPELINE_BROKEN (a step's bot was deleted)
   */
  async exportPipeline(pipelineId: number): Promise<Recipe> {
    const p = await this.deps.pipelines.get(pipelineId);
    const broken = p.stepBots.find((s) => s.broken);
    if (broken) throw new AppError('PIPELINE_BROKEN', `Step ${broken.index + 1} of ${p.name} uses a bot that was deleted; fix it before exporting.`);
    const ids = [...new Set(p.steps.map((s) => s.bot_id))];
    const refs = new Map<number, string>();
    const used = new Set<string>();
    const bots: Recipe['bots'] = [];
    for (const id of ids) {
      const b = await this.deps.bots.get(id);
      let ref = b.name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48) || `bot-${id}`;
      while (used.has(ref)) ref = `${ref}-${id}`;
      used.add(ref);
      refs.set(id, ref);
      const docs = p.steps
        .filter((s) => s.bot_id === id && s.input_source === 'doc' && s.input_doc)
        .map((s) => s.input_doc!)
        .filter((name, i, all) => all.indexOf(name) === i)
        .flatMap((name) => {
          try {
            return [{ name, content: this.deps.docs.read(b.docsPath, name).toString('utf8') }];
          } catch {
            return [];
          }
        });
      bots.push({
        ref,
        name: b.name,
        emoji: b.emoji,
        description: b.description,
        prompt: b.prompt,
        model: b.model,
        tools: b.tools as (typeof TOOL_NAMES)[number][],
        schedule: b.schedule,
        max_steps: b.maxSteps,
        retries: b.retries,
        requires_approval: b.requiresApproval,
        approval_timeout_s: b.approvalTimeoutS,
        ...(docs.length ? { docs } : {}),
      });
    }
    const links = (
      await this.deps.db
        .select()
        .from(triggers)
        .where(or(inArray(triggers.sourceBotId, ids), eq(triggers.targetPipelineId, p.id)))
    ).filter((t) => refs.has(t.sourceBotId) && (t.targetPipelineId === p.id || (t.targetBotId !== null && refs.has(t.targetBotId))));
    return {
      ...PREFIX,
      name: p.name,
      description: p.description,
      bots,
      pipeline: {
        name: p.name,
        description: p.description,
        schedule: p.schedule,
        steps: p.steps.map(({ bot_id, ...s }) => ({
          bot: refs.get(bot_id)!,
          input_source: s.input_source,
          ...(s.input_text !== null ? { input_text: s.input_text } : {}),
          ...(s.input_doc !== null ? { input_doc: s.input_doc } : {}),
          output_target: s.output_target,
          ...(s.output_doc !== null ? { output_doc: s.output_doc } : {}),
          requires_approval: s.requires_approval,
        })),
      },
      connections: links.map((t) => ({
        source: refs.get(t.sourceBotId)!,
        event: t.event,
        ...(t.targetPipelineId === p.id ? { target_pipeline: true as const } : { target: refs.get(t.targetBotId!)! }),
      })),
    };
  }

  /** `name`, else `name 2`, `name 3`, … (at most 64 characters), whichever is free. */
  private async freeName(name: string, taken: (n: string) => Promise<boolean>): Promise<string> {
    if (!(await taken(name))) return name;
    for (let i = 2; ; i++) {
      const suffix = ` ${i}`;
      const candidate = name.slice(0, 64 - suffix.length) + suffix;
      if (nameKey(candidate) !== nameKey(name) && !(await taken(candidate))) return candidate;
    }
  }
}
