import { nameKey } from '../engine/bots.ts';
import type { Args, Param } from './commands/types.ts';

/** Known names a command's params are matched against: bots, and pipelines. */
export interface KnownNames {
  bots: string[];
  pipelines: string[];
}

/**
 * Reads a command's arguments from what a person typed after it (Telegram), in `params` order.
 *
 * A `bot` (`pipeline`) param takes a "quoted phrase", or the longest run of words that is a known
 * bot (pipeline) name (so `/run eBay Scout size 43` finds "eBay Scout" when it exists), or else one
 * word, which then fails as an unknown name with suggestions. A `word` param takes a quoted phrase
 * or one word. A `choice` param that is optional is only taken when the next word is one of its
 * choices. The last `text` param takes the rest, verbatim. Quotes are never part of a value.
 */
export function parseArgs(params: Param[], text: string, known: KnownNames): Args {
  const args: Args = {};
  let rest = text.trim();
  const sets = { bot: new Set(known.bots.map(nameKey)), pipeline: new Set(known.pipelines.map(nameKey)) };
  const typed = params.filter((p) => !p.discordOnly);
  typed.forEach((p, i) => {
    if (!rest) return;
    const last = i === typed.length - 1;
    switch (p.kind) {
      case 'text': {
        args[p.name] = rest;
        rest = '';
        return;
      }
      case 'bot':
      case 'pipeline': {
        const quoted = takeQuoted(rest);
        if (quoted) {
          args[p.name] = quoted.value;
          rest = quoted.rest;
          return;
        }
        if (last) {
          args[p.name] = rest;
          rest = '';
          return;
        }
        const words = rest.split(/\s+/);
        for (let n = words.length; n >= 1; n--) {
          const candidate = words.slice(0, n).join(' ');
          if (sets[p.kind].has(nameKey(candidate))) {
            args[p.name] = candidate;
            rest = words.slice(n).join(' ');
            return;
          }
        }
        const [first, remaining] = takeWord(rest);
        args[p.name] = first;
        rest = remaining;
        return;
      }
      case 'choice': {
        const [word, remaining] = takeWord(rest);
        if (!p.required && !(p.choices ?? []).includes(word.toLowerCase())) return;
        args[p.name] = word.toLowerCase();
        rest = remaining;
        return;
      }
      case 'word': {
        const quoted = takeQuoted(rest);
        if (quoted) {
          args[p.name] = quoted.value;
          rest = quoted.rest;
          return;
        }
        const [word, remaining] = takeWord(rest);
        args[p.name] = word;
        rest = remaining;
        return;
      }
    }
  });
  return args;
}

/** Opening and closing quotes as phones type them: straight, curly, low-9 and guillemets. */
const OPEN = '"“„«';
const CLOSE = '"”“»';

/**
 * A name as typed, without the quotes around it (`"Quoted Name"` → `Quoted Name`): every name a
 * person gives, on either platform, goes through here, so quotes never become part of a name.
 */
export function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && OPEN.includes(t[0]!) && CLOSE.includes(t.at(-1)!)) return t.slice(1, -1).trim();
  return t;
}

/** `true` when `text` starts with a quoted phrase. */
export function startsQuoted(text: string): boolean {
  return takeQuoted(text) !== null;
}

function takeWord(s: string): [string, string] {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(s.trim());
  return m ? [m[1]!, m[2]!] : ['', ''];
}

/** A leading "…" (straight or curly quotes, as phones type them). */
function takeQuoted(s: string): { value: string; rest: string } | null {
  const m = /^["“„«]([^"”“»]+)["”“»]\s*([\s\S]*)$/.exec(s.trim());
  return m ? { value: m[1]!.trim(), rest: m[2]! } : null;
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two strings. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The names closest to `wanted`, best first, at most `limit`: names containing it (or contained in
 * it) first, then by edit distance to the whole name or one of its words, case-insensitively. `close` is false when none is near (within
 * a third of the name's length, at least 2 edits), and the names are then just the least far.
 */
export function closestNames(wanted: string, names: string[], limit = 3): { close: boolean; names: string[] } {
  const w = nameKey(wanted);
  const near = Math.max(2, Math.floor(w.length / 3));
  const ranked = names
    .map((name) => {
      const k = nameKey(name);
      // A word of a longer name counts too ("Scot" is near "eBay Scout"), a little behind the whole name.
      const words = k.split(/\s+/).filter((x) => x !== k);
      const distance = Math.min(editDistance(w, k), ...words.map((x) => editDistance(w, x) + 0.5));
      const contains = k.includes(w) || w.includes(k);
      return { name, distance, close: contains || distance <= near, score: (contains ? 0 : 1000) + distance };
    })
    .sort((x, y) => x.score - y.score || x.name.localeCompare(y.name));
  const close = ranked.filter((x) => x.close);
  return close.length > 0
    ? { close: true, names: close.slice(0, limit).map((x) => x.name) }
    : { close: false, names: ranked.slice(0, limit).map((x) => x.name) };
}
