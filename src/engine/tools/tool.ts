import { z } from 'zod';
import type { CodeOutcome, ReportedItem } from '../runner/protocol.ts';

/** Web search settings of the server (`SEARXNG_URL`, `BRAVE_API_KEY`); both unset means no search. */
export interface SearchSettings {
  searxngUrl?: string;
  braveApiKey?: string;
}

/** What a tool may use while it runs inside a run's child process. */
export interface ToolContext {
  /** The bot's docs folder (absolute): the only place file tools read and write. */
  docsPath: string;
  /** Aborted when the run is cancelled or times out. */
  signal: AbortSignal;
  search: SearchSettings;
  /** `web_fetch` may reach loopback, link-local and private addresses (`WEB_FETCH_ALLOW_PRIVATE`); default no. */
  webFetchAllowPrivate?: boolean;
  /**
   * The bot's secrets, name → value (see `runner/protocol.ts` `RunJob.secrets`); a tool uses one
   * only where the model names it (e.g. `web_fetch` headers), never returns a value to the model.
   */
  secrets?: Readonly<Record<string, string>>;
  /** Records a result through the parent (which alone writes the database). */
  report(item: ReportedItem): Promise<{ resultId: number; isNew: boolean }>;
  /** Runs JavaScript in a separate sandboxed process, through the parent. */
  runCode(source: string): Promise<CodeOutcome>;
  /**
   * Hands a swarm plan or verdict to the parent, which validates and stores it; resolves with its
   * answer for the model, rejects with its refusal. Absent outside a run's child process.
   */
  submit?(kind: 'plan' | 'verdict', data: unknown): Promise<string>;
}

/**
 * One tool the model may call. `args` is validated against `schema` before `run`; what `run`
 * returns (or the message of what it throws) goes back to the model as the tool's result.
 */
export interface Tool<S extends z.ZodObject = z.ZodObject> {
  /** The function name the model calls (`^[a-zA-Z0-9_-]{1,64}$`, as both APIs require). */
  name: string;
  /** What the tool does, for the model. */
  description: string;
  schema: S;
  /** The arguments the offline `echo` model calls this tool with, from the run's input; absent: echo never calls it. */
  offline?(input: string): z.input<S>;
  run(args: z.output<S>, ctx: ToolContext): Promise<string>;
}

/** A tool failure meant for the model: the message is sent back as the tool's (error) result. */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}

/** Declares a tool with its argument types inferred from `schema`. */
export function defineTool<S extends z.ZodObject>(tool: Tool<S>): Tool {
  return tool as unknown as Tool;
}

/** The JSON Schema of a tool's arguments, as both OpenAI `parameters` and Anthropic `input_schema` take it. */
export function parametersOf(tool: Tool): Record<string, unknown> {
  const { $schema: _drop, ...schema } = z.toJSONSchema(tool.schema, { io: 'input' }) as Record<string, unknown>;
  return schema;
}

/** Cuts `s` to at most `max` characters, saying how much was left out. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}\n[… truncated: ${s.length - max} more characters]`;
}
