import { Cron, CronDate } from 'croner';
import cron, { type ParsedFields } from 'node-cron';

// Pure time arithmetic over cron expressions (no I/O, no timers): when a schedule fires next, and
// whether a second is one of its occurrences. node-cron FIRES schedules (src/engine/scheduler.ts);
// these functions answer the same question as node-cron's own firing, computed with croner's public
// API, and test/schedule-time.test.ts holds the two against each other second by second.
//
// How node-cron decides what fires (node-cron 4.6, dist/_shared.js: TimeMatcher, MatcherWalker,
// localTimeToTimestamp) and how that is reproduced here:
// - Fields: 5 (minute-first, second 0) or 6 (second-first); day of month AND day of week must
//   both match (not Vixie cron's OR); weekday 7 is Sunday; ranges may wrap (`22-2` = 22,23,0,1,2);
//   `L`, `L-n`, `nW`, `LW` in day of month, `nL` and `n#k` in day of week. node-cron's own public
//   `parse()` expands the expression, so both read every field the same way; croner is given the
//   expanded lists with `domAndDow: true`.
// - Time zone: the process's (or `timeZone`). node-cron walks wall-clock times in order, after the
//   wall-clock time of the reference, turns each into an instant, and takes the first instant that
//   is after the reference and that its matcher accepts. croner walks the wall clock here (UTC
//   offset 0, where no clock ever jumps), and `instantOf` turns a wall-clock time into an instant
//   by node-cron's rule; node-cron's public `task.match()` has the last word on each candidate.
// - DST, as that rule works out (it is not croner's): a wall-clock time the clock skips (spring
//   forward, e.g. 02:30 in Europe/Berlin on the last Sunday of March) never fires, so `30 2 * * *`
//   does not run that day; a wall-clock time that occurs twice (fall back) fires ONCE, at the
//   occurrence whose UTC offset is the one in force at the UTC instant that reads like that wall-
//   clock time: east of UTC (Berlin) the second, standard-time one (02:30 CET), west of UTC
//   (New York) the first, daylight one (01:30 EDT). This holds for interval schedules too: in
//   Berlin `*/15 * * * *` does not fire in the first (CEST) pass of 02:00–02:59 at all.
// - One difference is left, on purpose: these functions answer for a task that has been running
//   (the scheduler's). A task node-cron arms DURING the pass it does not fire starts after that
//   wall-clock time in the other pass: armed at 02:10 CEST, Berlin's `*/15 2 * * *` first fires at
//   02:15 CET, while a running task (and `nextOccurrence`) also fires 02:00 CET.

/** Most missed occurrences counted at start; beyond this the event says "at least". */
export const MISSED_COUNT_CAP = 1000;

/** Most wall-clock candidates one `nextOccurrence` looks at before it answers null ("unknown"). */
const MAX_CANDIDATES = 100_000;

interface Schedule {
  /** croner over node-cron's expanded fields, on a wall clock that never jumps (UTC offset 0). */
  wallClock: Cron;
  /** node-cron's own matcher for the expression (a task that is never started). */
  matches: (ms: number) => boolean;
}

const schedules = new Map<string, Schedule>();

/**
 * croner's pattern (6 fields, second first) for node-cron's parsed fields. A day-of-month or
 * day-of-week token croner cannot read the same way (`L-n`) becomes a superset (the days it can
 * fall on), which is safe: node-cron's matcher then accepts only the right ones.
 */
function cronerPattern(f: ParsedFields): string {
  // A list of every value is written `*`, which croner walks much faster.
  const list = (values: (number | string)[], size = Infinity) => (new Set(values).size === size ? '*' : values.join(','));
  const dom = f.dayOfMonth.flatMap((v) => {
    const offset = typeof v === 'string' ? /^L-(\d+)$/.exec(v) : null;
    if (!offset) return [v];
    const n = Number(offset[1]); // the last day (28–31) minus n
    return [28 - n, 29 - n, 30 - n, 31 - n].filter((d) => d >= 1);
  });
  // node-cron's `5L` (last Friday of the month) is croner's `5#L`; `5#2` reads the same in both.
  const dow = f.dayOfWeek.map((v) => (typeof v === 'string' && /^\dL$/.test(v) ? `${v[0]}#L` : v));
  return [list(f.second, 60), list(f.minute, 60), list(f.hour, 24), list([...new Set(dom)], 31), list(f.month, 12), list(dow, 7)].join(' ');
}

/**
 * The schedule for an expression in a time zone (cached).
 * @throws {Error} from node-cron for an expression it cannot read, or from croner / Intl for an
 *   unknown time zone.
 */
function scheduleFor(expression: string, timeZone: string | undefined): Schedule {
  const key = `${timeZone ?? ''}\u0000${expression}`;
  const cached = schedules.get(key);
  if (cached) return cached;
  const fields = cron.parse(expression);
  const wallClock = new Cron(cronerPattern(fields), { paused: true, utcOffset: 0, mode: '6-part', domAndDow: true });
  const task = cron.createTask(expression, () => {}, timeZone ? { timezone: timeZone } : undefined);
  // A created task sits in node-cron's registry until destroyed; its matcher outlives it.
  void task.destroy();
  const s: Schedule = { wallClock, matches: (ms) => task.match(new Date(ms)) };
  if (schedules.size > 500) schedules.clear();
  schedules.set(key, s);
  return s;
}

/** `ms` cut down to its whole second: occurrences are identified by their second. */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/**
 * The wall-clock time of an instant in a time zone, written as the epoch ms of that same wall-clock
 * time in UTC (whole seconds). `timeZone` undefined = the process's.
 */
function wallOf(ms: number, timeZone: string | undefined): number {
  const d = new CronDate(new Date(ms), timeZone);
  return Date.UTC(d.year, d.month, d.day, d.hour, d.minute, d.second);
}

/**
 * The instant node-cron gives a wall-clock time (as `wallOf` writes it), by its rule
 * (localTimeToTimestamp in node-cron's dist/_shared.js): take the UTC offset in force at the
 * instant that reads like the wall-clock time in UTC; if the instant it gives has the same offset,
 * that is it (this is how a repeated time picks one of its two occurrences); otherwise the
 * candidate that reads back as the wall-clock time, and for a skipped time the later candidate
 * (which reads differently, so node-cron's matcher normally refuses it).
 */
function instantOf(wall: number, timeZone: string | undefined): number {
  const offsetAt = (ms: number) => wallOf(ms, timeZone) - ms;
  const first = offsetAt(wall);
  const c1 = wall - first;
  const second = offsetAt(c1);
  if (second === first) return c1;
  const c2 = wall - second;
  if (wallOf(c1, timeZone) === wall) return c1;
  if (wallOf(c2, timeZone) === wall) return c2;
  return Math.max(c1, c2);
}

/**
 * The first occurrence of `expression` strictly after the second holding `afterMs`, in epoch ms:
 * the next time node-cron, scheduling it in `timeZone` (default: the process's), fires it. null
 * when none is found within 100,000 candidate wall-clock times (only for expressions such as
 * `* * * L-2 * *` that croner cannot narrow down).
 * @throws {Error} for an expression node-cron cannot read, or an unknown time zone.
 */
export function nextOccurrence(expression: string, afterMs: number, timeZone?: string): number | null {
  const s = scheduleFor(expression, timeZone);
  const base = floorSecond(afterMs);
  let wall = wallOf(base, timeZone);
  // In a repeated hour, the reference may be in the pass that node-cron does not fire. Then the
  // next occurrence's wall-clock time is the first one whose instant is after the reference, which
  // lies up to the length of the repeat before (east of UTC) or after (west) the reference's.
  const ahead = instantOf(wall, timeZone) - base;
  if (ahead !== 0) {
    // Instants grow with wall-clock time within a repeat: bisect for the first one after `base`.
    let lo = ahead > 0 ? wall - ahead : wall; // its instant is not after base
    let hi = ahead > 0 ? wall : wall - ahead; // its instant is
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (instantOf(mid, timeZone) > base) hi = mid;
      else lo = mid;
    }
    wall = hi - 1000;
  }
  for (let i = 0; i < MAX_CANDIDATES; i++) {
    const next = s.wallClock.nextRun(new Date(wall));
    if (!next) return null;
    wall = next.getTime();
    const at = instantOf(wall, timeZone);
    if (at > base && s.matches(at)) return at;
  }
  return null;
}

/**
 * Whether the second holding `ms` is an occurrence of `expression`: one node-cron fires, in
 * `timeZone` (default: the process's). In a repeated hour only the pass that fires counts.
 * @throws {Error} for an expression node-cron cannot read, or an unknown time zone.
 */
export function isOccurrence(expression: string, ms: number, timeZone?: string): boolean {
  const second = floorSecond(ms);
  return nextOccurrence(expression, second - 1000, timeZone) === second;
}

/**
 * How many occurrences of `expression` fall strictly between `afterMs` and `beforeMs` (epoch ms),
 * counting at most `cap`, in `timeZone` (default: the process's).
 * @throws {Error} for an expression node-cron cannot read, or an unknown time zone.
 */
export function countOccurrences(expression: string, afterMs: number, beforeMs: number, cap = MISSED_COUNT_CAP, timeZone?: string): number {
  let n = 0;
  for (let t = nextOccurrence(expression, afterMs, timeZone); t !== null && t < beforeMs && n < cap; t = nextOccurrence(expression, t, timeZone)) n++;
  return n;
}

/**
 * When a bot or pipeline runs next on its own (epoch ms), in the process's time zone, or null: no
 * schedule, paused, or an expression node-cron cannot read.
 */
export function nextRunAt(target: { schedule: string | null; paused?: boolean }, now = Date.now()): number | null {
  if (!target.schedule || target.paused) return null;
  try {
    return nextOccurrence(target.schedule, now);
  } catch {
    return null;
  }
}
