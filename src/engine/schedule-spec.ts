import cron from 'node-cron';

/**
 * Turns what a person types for a schedule into a cron expression.
 *
 * Accepts a 5-field cron expression (minute precision), a 6-field one (seconds first, as
 * node-cron reads it), `every N m|min|minutes` (N in 1..59, stored as `*\/N * * * *`),
 * `every N h|hours` (N in 1..23, stored as `0 *\/N * * *`), and `off` / `none` / empty for no
 * schedule (null).
 * @returns the cron expression, or null for "no schedule".
 * @throws {Error} with a sentence saying what is wrong.
 */
export function parseScheduleSpec(spec: string | null | undefined): string | null {
  if (spec == null) return null;
  const s = spec.trim().replace(/\s+/g, ' ');
  if (s === '' || /^(off|none|manual)$/i.test(s)) return null;
  const every = /^every (\d+) ?(m|min|mins|minute|minutes|h|hr|hrs|hour|hours)$/i.exec(s);
  if (every) {
    const n = Number(every[1]);
    const hours = every[2]!.toLowerCase().startsWith('h');
    if (hours) {
      if (n < 1 || n > 23) throw new Error(`"${s}": every N hours needs N between 1 and 23`);
      return n === 1 ? '0 * * * *' : `0 */${n} * * *`;
    }
    if (n < 1 || n > 59) throw new Error(`"${s}": every N minutes needs N between 1 and 59`);
    return n === 1 ? '* * * * *' : `*/${n} * * * *`;
  }
  const fields = s.split(' ').length;
  if ((fields !== 5 && fields !== 6) || !cron.validate(s)) {
    throw new Error(`"${s}" is not a valid schedule: use a cron expression like "*/30 * * * *", "every 30m", "every 2h" or "off"`);
  }
  return s;
}
