import fs from 'node:fs';
import { dashboardStream } from '../live/view.ts';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import swagger from '@fastify/swagger';
import { Eta } from 'eta';
import { jsonSchemaTransform, jsonSchemaTransformObject, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../../engine/errors.ts';
import { view } from '../view-helpers.ts';
import { ERROR_DOCS } from './error-docs.ts';

/** Where the generated document is served. */
export const OPENAPI_PATH = '/api/openapi.json';

const PKG = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const TAGS = [
  { name: 'bots', description: 'Bots: create, read, change, delete; templates' },
  { name: 'runs', description: 'Runs: start, list (per bot and over all bots), logs, live log, cancel, retry' },
  { name: 'results', description: 'What runs found; pin the ones to keep' },
  { name: 'docs', description: "A bot's docs folder (its memory)" },
  { name: 'secrets', description: "A bot's named secrets (its own provider key, a login, a token): names only; values go to its runs alone" },
  { name: 'connections', description: 'Triggers: a bot run ending starts another bot' },
  { name: 'pipelines', description: 'Ordered steps of bots and their runs' },
  { name: 'approvals', description: "Drafts of runs that wait for a person's decision: approve (maybe edited) or reject" },
  { name: 'recipes', description: 'Ready recipes (bots, pipeline, connections in one call); recipe files to export and import' },
  { name: 'activity', description: 'The activity feed' },
  { name: 'tasks', description: 'Swarm tasks: a planner splits them, executors do the parts, an evaluator judges; audit trail' },
  { name: 'agents', description: 'Swarm agents: bots in a role, external agents (register, long poll, heartbeat)' },
  { name: 'keys', description: 'API keys (X-API-Key) with scopes, for clients and external agents' },
  { name: 'chat', description: 'Chat pairing: link a Telegram or Discord identity to your account with its one-time code; list and unlink' },
  { name: 'users', description: 'Accounts: who a request acts as (/me); users and their roles (admins)' },
  { name: 'meta', description: 'This description' },
];

/** Every error code with its HTTP status and meaning (the document's `x-error-codes`). */
export function errorCodeTable(): Record<ErrorCode, { status: number; description: string }> {
  const out = {} as Record<ErrorCode, { status: number; description: string }>;
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) out[code] = { status: ERROR_CODES[code].status, description: ERROR_DOCS[code] };
  return out;
}

/**
 * Registers @fastify/swagger on the root instance, so it sees every route registered after it and
 * generates an OpenAPI 3.0 document from the routes' zod schemas (fastify-type-provider-zod's
 * transform). Only routes under `/api/` are described; the dashboard's pages are not an API.
 * Call before any route is registered.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'openOrchestrator API',
        version: PKG.version,
        description:
          'The REST API of openOrchestrator: bots, runs, results, docs, connections and pipelines. JSON in and out, snake_case fields, ISO 8601 UTC times. ' +
          'Every error is `{"error": {"code", "message"}}` with a 4xx or 5xx status; `x-error-codes` lists each code. ' +
          'When DASHBOARD_TOKEN is set, send `Authorization: Bearer <token>` (or the oo_token cookie the dashboard sets).',
      },
      tags: TAGS,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'DASHBOARD_TOKEN (only when it is set)' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'oo_token', description: 'set by opening the dashboard once with ?token=<DASHBOARD_TOKEN>' },
        },
      },
      security: [{}, { bearer: [] }, { cookie: [] }],
    },
    transform: (doc) => {
      if (!doc.url.startsWith('/api/')) return { schema: { hide: true } as typeof doc.schema, url: doc.url };
      // jsonSchemaTransform takes `body` for one zod schema; a body with a schema per content type
      // (JSON or multipart) is converted here, one content type at a time.
      const body = doc.schema?.body as { content?: Record<string, { schema: z.ZodType }> } | undefined;
      if (!body?.content || body instanceof z.ZodType) return jsonSchemaTransform(doc);
      const { body: _, ...rest } = doc.schema;
      const out = jsonSchemaTransform({ ...doc, schema: rest });
      const content = Object.fromEntries(Object.entries(body.content).map(([type, c]) => [type, { schema: inputJsonSchema(c.schema) }]));
      return { ...out, schema: { ...out.schema, body: { content } } };
    },
    // Components from the zod schemas with an id; every error code with its status and meaning.
    transformObject: (doc) => ({ ...jsonSchemaTransformObject(doc), 'x-error-codes': errorCodeTable() }) as unknown as ReturnType<typeof jsonSchemaTransformObject>,
  });
}

/** A request schema as OpenAPI 3.0 JSON schema (inline, without `$schema`). */
function inputJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' });
  return json;
}

/** A JSON schema as far as the docs page reads it. */
interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  description?: string;
  enum?: unknown[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  nullable?: boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
}

interface OpenApiDoc {
  info: { title: string; version: string; description?: string };
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

interface Operation {
  tags?: string[];
  summary?: string;
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema: JsonSchema }> }>;
}

/** One field of a request body or response, as the docs page lists it. */
interface FieldRow {
  name: string;
  type: string;
  required: boolean;
  description: string;
}

/**
 * `GET /openapi.json` (the generated document) and `GET /docs` (the same, as a page a person reads:
 * every operation by tag with its parameters, body fields and answers, and the error codes).
 * Mounted under `/api`.
 */
export const openApiRoutes = (viewsDir: string): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });

    app.get(
      '/openapi.json',
      { schema: { tags: ['meta'], summary: 'This API described as OpenAPI 3.0 (generated from the routes’ schemas)', response: { 200: { description: 'the OpenAPI document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } } } },
      async () => plain.swagger() as unknown as Record<string, unknown>,
    );

    app.get(
      '/docs',
      { schema: { tags: ['meta'], summary: 'This API described as a page to read', response: { 200: { description: 'an HTML page', content: { 'text/html': { schema: z.string() } } } } } },
      async (req, reply) => {
        const doc = plain.swagger() as unknown as OpenApiDoc;
        return reply.type('text/html; charset=utf-8').send(eta.render('api-docs', { ...docsPageData(doc), h: view, tz: view.tz, stream: dashboardStream(req.server.live.hub) }));
      },
    );
  };

/** What `views/api-docs.eta` shows: operations grouped by tag, each with its fields resolved. */
function docsPageData(doc: OpenApiDoc) {
  const schemas = doc.components?.schemas ?? {};
  const resolve = (s: JsonSchema | undefined): JsonSchema => {
    let cur = s ?? {};
    for (let i = 0; cur.$ref && i < 10; i++) cur = schemas[cur.$ref.replace('#/components/schemas/', '')] ?? {};
    return cur;
  };
  const typeOf = (s: JsonSchema | undefined): string => {
    const r = resolve(s);
    const name = s?.$ref ? s.$ref.replace('#/components/schemas/', '') : undefined;
    let t: string;
    if (name) t = name;
    else if (r.enum) t = r.enum.map((v) => JSON.stringify(v)).join(' | ');
    else if (r.anyOf || r.oneOf) t = (r.anyOf ?? r.oneOf)!.map(typeOf).join(' | ');
    else if (r.type === 'array') t = `${typeOf(r.items)}[]`;
    else t = [r.type ?? 'any', r.format].filter(Boolean).join(' ');
    return r.nullable ? `${t} | null` : t;
  };
  const fields = (s: JsonSchema | undefined): FieldRow[] => {
    const r = resolve(s);
    const obj = r.type === 'array' ? resolve(r.items) : r;
    return Object.entries(obj.properties ?? {}).map(([name, p]) => ({
      name,
      type: typeOf(p),
      required: (obj.required ?? []).includes(name),
      description: resolve(p).description ?? p.description ?? '',
    }));
  };
  const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const body = op.requestBody ? Object.entries(op.requestBody.content) : [];
      return {
        id: `${method}-${path}`.replace(/[^a-z0-9]+/gi, '-'),
        method: method.toUpperCase(),
        path,
        tag: op.tags?.[0] ?? 'other',
        summary: op.summary ?? '',
        parameters: (op.parameters ?? []).map((p) => ({
          name: p.name,
          in: p.in,
          required: Boolean(p.required),
          type: typeOf(p.schema),
          description: p.description ?? p.schema?.description ?? '',
        })),
        body: body.map(([type, c]) => ({ type, fields: fields(c.schema) })),
        responses: Object.entries(op.responses).map(([status, r]) => {
          const json = r.content?.['application/json']?.schema;
          return { status, description: r.description ?? '', type: json ? typeOf(json) : Object.keys(r.content ?? {}).join(', ') };
        }),
      };
    }),
  );
  const tags = (doc.tags ?? []).map((t) => ({ ...t, operations: operations.filter((o) => o.tag === t.name) })).filter((t) => t.operations.length > 0);
  const objects = Object.entries(schemas)
    .filter(([name]) => !name.endsWith('Input'))
    .map(([name, s]) => ({ name, description: s.description ?? '', fields: fields(s) }));
  return { info: doc.info, tags, objects, errors: Object.entries(errorCodeTable()).map(([code, e]) => ({ code, ...e })) };
}
