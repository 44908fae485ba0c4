import cron from 'node-cron';

/** Minute steps that divide the hour evenly. */
const MINUTE_STEPS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
/** Hour steps that divide the day evenly. */
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];

/**
 * Turns what a person types for a schedule into a cron expression.
 *
 * Accepts a 5-field cron expression (minute precision), a 6-field one (seconds first, as
 * node-cron reads it), `every N m|min|minutes` (N dividing 60, stored as `*\/N * * * *`),
 * `every N h|hours` (N dividing 24, stored as `0 *\/N * * *`), and `off` / `none` / empty for no
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
    // Cron steps restart every hour (or day): */45 fires at :00 and :45, so only steps that divide
    // 60 minutes (24 hours) are true intervals.
    const steps = hours ? HOUR_STEPS : MINUTE_STEPS;
    if (!steps.includes(n)) {
      throw new Error(
        `"${s}" is not an even interval: every N ${hours ? 'hours' : 'minutes'} takes N from ${steps.join(', ')}; use a cron expression for anything else`,
      );
    }
    if (hours) return n === 1 ? '0 * * * *' : `0 */${n} * * *`;
    return n === 1 ? '* * * * *' : `*/${n} * * * *`;
  }
  const fields = s.split(' ').length;
  if ((fields !== 5 && fields !== 6) || !cron.validate(s)) {
    throw new Error(`"${s}" is not a valid schedule: use a cron expression like "*/30 * * * *", "every 30m", "every 2h" or "off"`);
  }
  return s;
}
