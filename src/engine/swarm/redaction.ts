/**
 * Redaction of audit payloads before they are stored (seed 004: "audit/logging hooks to redact
 * sensitive fields", "track redacted_fields in audits"). Two kinds of rule:
 *
 * - field names: a value under a key with one of these names (case-insensitive, `-`/`_` ignored)
 *   is replaced whole by `[REDACTED]`;
 * - patterns: each match inside any string is replaced by `[REDACTED:<rule>]`.
 *
 * Own code rather than `fast-redact` (which pino uses): that takes fixed paths only, matches no
 * patterns inside strings and does not tell which fields it changed, which the audit must list.
 */

/** A pattern rule: its name (shown in the replacement) and the regular expression. */
export interface RedactionPattern {
  name: string;
  pattern: RegExp;
  /** What a match becomes (taken literally); default `[REDACTED:<name>]`. */
  replacement?: string;
}

/** The rules in force: field names and patterns. */
export interface RedactionRules {
  fields: string[];
  patterns: RedactionPattern[];
}

/** Field names redacted by default. */
export const DEFAULT_REDACTED_FIELDS = ['password', 'passwd', 'secret', 'token', 'api_key', 'apikey', 'authorization', 'cookie', 'private_key', 'client_secret'];

/**
 * Patterns redacted by default: API keys (`sk-…` as OpenAI/Anthropic/Stripe issue them, this
 * server's `oo_…` keys, GitHub `ghp_…`, AWS `AKIA…`), bearer tokens, `password=…`-style
 * assignments and e-mail addresses.
 */
export const DEFAULT_REDACTION_PATTERNS: RedactionPattern[] = [
  { name: 'api_key', pattern: /\b(?:sk|rk|pk)-[A-Za-z0-9][A-Za-z0-9_-]{5,}/g },
  { name: 'api_key', pattern: /\boo_[A-Za-z0-9_-]{16,}/g },
  { name: 'api_key', pattern: /\b(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{16,}/g },
  { name: 'api_key', pattern: /\bAKIA[0-9A-Z]{16}\b/g },
  { name: 'bearer_token', pattern: /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi },
  { name: 'password', pattern: /\b(?:password|passwd|pwd)\s*[:=]\s*\S+/gi },
  { name: 'email', pattern: /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+/g },
];

/**
 * The rules: the defaults plus `extraFields` (names) and `extraPatterns` (regular expression
 * sources, matched globally and case-sensitively; named `custom`).
 * @throws {SyntaxError} on a pattern that is not a valid regular expression.
 */
export function redactionRules(extraFields: readonly string[] = [], extraPatterns: readonly string[] = []): RedactionRules {
  return {
    fields: [...DEFAULT_REDACTED_FIELDS, ...extraFields],
    patterns: [...DEFAULT_REDACTION_PATTERNS, ...extraPatterns.map((p) => ({ name: 'custom', pattern: new RegExp(p, 'g') }))],
  };
}

const normalizeField = (name: string) => name.toLowerCase().replace(/[-_\s]/g, '');

/**
 * A copy of `value` with the rules applied, and the paths of what was redacted (`description`,
 * `plan.subtasks[0].description`, `.` for a top-level string). Objects, arrays and strings are
 * walked, `opts.maxDepth` levels deep (default 20; what lies deeper is kept as is); other values
 * are kept. Never changes `value`.
 */
export function redact(value: unknown, rules: RedactionRules, opts: { maxDepth?: number } = {}): { value: unknown; redactedFields: string[] } {
  const maxDepth = opts.maxDepth ?? 20;
  const fieldNames = new Set(rules.fields.map(normalizeField));
  const redacted: string[] = [];
  const walk = (v: unknown, path: string, depth: number): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const { name, pattern, replacement } of rules.patterns) {
        pattern.lastIndex = 0;
        const repl = replacement ?? `[REDACTED:${name}]`;
        out = out.replace(pattern, () => repl);
      }
      if (out !== v) redacted.push(path || '.');
      return out;
    }
    if (depth > maxDepth || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${path}[${i}]`, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      if (fieldNames.has(normalizeField(k)) && item !== null && item !== undefined && item !== '') {
        out[k] = '[REDACTED]';
        redacted.push(p);
      } else {
        out[k] = walk(item, p, depth + 1);
      }
    }
    return out;
  };
  const out = walk(value, '', 0);
  return { value: out, redactedFields: [...new Set(redacted)] };
}

/** `text` with the pattern rules applied (for activity lines and other plain text). */
export function redactText(text: string, rules: RedactionRules): string {
  return redact(text, { fields: [], patterns: rules.patterns }).value as string;
}

/** Lines of a multi-line secret at least this long are redacted on their own too (a PEM key logged line by line). */
const MIN_SECRET_LINE = 8;

/**
 * `value` (a string, or every string of a JSON value, however deep) with the bot's secret values
 * of `rules` ({@link secretRedactionRules}) replaced. For messages that came over IPC as JSON:
 * they hold no cycles, so there is no depth limit.
 */
export function redactSecrets<T>(value: T, rules: RedactionRules): T {
  return rules.patterns.length ? (redact(value, rules, { maxDepth: Infinity }).value as T) : value;
}

/**
 * Rules that replace each value of `secrets` (name → value, a bot's secrets, see
 * `engine/bot-secrets.ts`) by `[redacted NAME]` wherever it appears in a string; of a multi-line
 * value also each of its lines of 8 characters or more, since logs are written line by line.
 * Longer values go first, so a value containing another is replaced whole. No field rules.
 */
export function secretRedactionRules(secrets: Readonly<Record<string, string>>): RedactionRules {
  const entries: { name: string; text: string }[] = [];
  for (const [name, value] of Object.entries(secrets)) {
    if (!value) continue;
    entries.push({ name, text: value });
    if (value.includes('\n')) {
      for (const line of value.split(/\r?\n/).map((l) => l.trim())) if (line.length >= MIN_SECRET_LINE && line !== value) entries.push({ name, text: line });
    }
  }
  entries.sort((a, b) => b.text.length - a.text.length);
  return { fields: [], patterns: entries.map(({ name, text }) => ({ name, pattern: new RegExp(escapeRegExp(text), 'g'), replacement: `[redacted ${name}]` })) };
}

/** `s` with every character that means something in a regular expression escaped (MDN's `escapeRegExp`, https://developer.mozilla.org/en-US/docs/Web/JavaScript/Guide/Regular_expressions#escaping). */
function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
