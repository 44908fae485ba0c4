import { runCode } from './code.ts';
import { fileTools } from './files.ts';
import { reportResult } from './report.ts';
import { webSearch } from './search.ts';
import { submitPlan, submitVerdict } from './swarm.ts';
import type { Tool } from './tool.ts';
import { webFetch } from './web.ts';

export { ToolError, type Tool, type ToolContext, type SearchSettings } from './tool.ts';

/** The tools of each family a bot can be given (`bots.tools`, seed 001's checkboxes). */
const FAMILIES: Record<string, Tool[]> = {
  files: fileTools,
  web_fetch: [webFetch],
  web_search: [webSearch],
  code: [runCode],
  // Offered to a swarm task's planner and evaluator runs only (never on the bot form).
  submit_plan: [submitPlan],
  submit_verdict: [submitVerdict],
};

/** The tools a bot's run offers: `report_result` always, then those of each of its families, in a stable order. */
export function toolsFor(families: readonly string[]): Tool[] {
  const out: Tool[] = [reportResult];
  for (const f of ['web_search', 'web_fetch', 'files', 'code', 'submit_plan', 'submit_verdict']) if (families.includes(f)) out.push(...FAMILIES[f]!);
  return out;
}

/**
 * A tool call's arguments, short enough for one log line: long strings cut to 60 characters,
 * the whole to 160.
 */
export function shortArgs(args: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(args, (_k, v) => (typeof v === 'string' && v.length > 60 ? `${v.slice(0, 57)}…` : v)) ?? '';
  } catch {
    s = String(args);
  }
  return s.length > 160 ? `${s.slice(0, 159)}…` : s;
}
