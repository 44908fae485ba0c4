import { Cron } from 'croner';
import cron from 'node-cron';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { countOccurrences, isOccurrence, MISSED_COUNT_CAP, nextOccurrence, nextRunAt } from '../src/engine/schedule-time.ts';

// node-cron fires a bot's schedule; src/engine/schedule-time.ts computes, with croner, when it fires
// next (`next_run_at`, missed runs, "is this second an occurrence"). Here the two are held against
// each other: node-cron's real scheduler runs under a fake clock and what its task receives is the
// truth; for every second (6 fields) or minute (5 fields) of a window, `isOccurrence` must say
// whether node-cron fired it, and `nextOccurrence` must name the next one it fired.

const BERLIN = 'Europe/Berlin' as const;
const NEW_YORK = 'America/New_York' as const;
/** DST changes in 2025, as UTC instants. */
const CHANGES = {
  [BERLIN]: { spring: '2025-03-30T01:00:00Z', autumn: '2025-10-26T01:00:00Z' }, // 02:00 CET → 03:00 CEST; 03:00 CEST → 02:00 CET
  [NEW_YORK]: { spring: '2025-03-09T07:00:00Z', autumn: '2025-11-02T06:00:00Z' }, // 02:00 EST → 03:00 EDT; 02:00 EDT → 01:00 EST
};
const MIN = 60_000;
const HOUR = 60 * MIN;
const ms = (iso: string) => Date.parse(iso);
const iso = (t: number | null) => (t === null ? 'null' : new Date(t).toISOString());
const hasSeconds = (expression: string) => expression.trim().split(/\s+/).length === 6;

afterEach(() => {
  vi.useRealTimers();
});

/**
 * What node-cron fires for `expression` in `timeZone` from `fromMs` (inclusive) to `toMs`
 * (exclusive), scheduled the second before and left running: the occurrences (epoch ms) its task
 * callback is given, in order. Runs node-cron's own scheduler (`cron.schedule`) under vitest's
 * fake clock.
 */
async function nodeCronFires(expression: string, timeZone: string | undefined, fromMs: number, toMs: number): Promise<number[]> {
  vi.useFakeTimers({ now: fromMs - 1000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  const fired: number[] = [];
  const missed: number[] = [];
  const task = cron.schedule(expression, (ctx) => void fired.push(ctx.date.getTime()), timeZone ? { timezone: timeZone } : {});
  task.on('execution:missed', (ctx) => void missed.push(ctx.date.getTime()));
  try {
    await vi.advanceTimersByTimeAsync(toMs - 1 - (fromMs - 1000));
  } finally {
    await task.destroy();
    vi.useRealTimers();
  }
  expect(missed, 'the fake clock never lets node-cron fall behind').toEqual([]);
  return fired.filter((t) => t < toMs);
}

/**
 * Checks `nextOccurrence` from each of `bases` against node-cron's `fires` (all it fired between
 * `fromMs` and `toMs`), and `isOccurrence` at each of `probes`. Returns the disagreements.
 */
function disagreements(expression: string, timeZone: string | undefined, fires: number[], bases: number[], probes: number[], toMs: number): string[] {
  const out: string[] = [];
  const fired = new Set(fires);
  let k = 0;
  for (const t of bases) {
    while (k < fires.length && fires[k]! <= t) k++;
    const want = fires[k] ?? null; // null: not within the window
    const got = nextOccurrence(expression, t, timeZone);
    if (want === null ? got !== null && got < toMs : got !== want) out.push(`next after ${iso(t)}: node-cron ${iso(want)}, nextOccurrence ${iso(got)}`);
  }
  for (const t of probes) {
    if (isOccurrence(expression, t, timeZone) !== fired.has(t)) out.push(`${iso(t)}: node-cron ${fired.has(t) ? 'fires' : 'does not fire'}, isOccurrence ${!fired.has(t)}`);
  }
  return out.slice(0, 10);
}

const range = (from: number, to: number, step: number) => Array.from({ length: Math.ceil((to - from) / step) }, (_, i) => from + i * step);

/**
 * Walks a window second by second (6 fields) or minute by minute (5 fields): `nextOccurrence`
 * from every step and `isOccurrence` at every step must agree with what node-cron fired.
 */
async function expectWalkAgrees(expression: string, timeZone: string | undefined, fromMs: number, toMs: number, minFires = 1) {
  const fires = await nodeCronFires(expression, timeZone, fromMs, toMs);
  expect(fires.length, `${expression} fires in the window`).toBeGreaterThanOrEqual(minFires);
  const steps = range(fromMs, toMs, hasSeconds(expression) ? 1000 : MIN);
  expect(disagreements(expression, timeZone, fires, steps, steps, toMs), `${expression} in ${timeZone ?? 'the process time zone'}`).toEqual([]);
  return fires;
}

describe('the next occurrence agrees with what node-cron fires', () => {
  it('steps, ranges, lists, ranges with steps, wrapping ranges, nicknames, 6-field seconds (a month end in Berlin and in the process time zone)', async () => {
    // 31 Jan 2025 21:00 → 1 Feb 03:00 in Berlin (UTC+1).
    const from = ms('2025-01-31T20:00:00Z');
    const to = from + 6 * HOUR;
    for (const e of ['*/7 * * * *', '1-5 * * * *', '1,15,30 * * * *', '10-50/15 * * * *', '0 1-5 * * *', '0 22-2 * * *', '15 */2 * * *', '@hourly', '*/5 23,0 31,1 * *']) {
      await expectWalkAgrees(e, BERLIN, from, to);
    }
    for (const e of ['*/20 * * * * *', '5,35 */10 * * * *', '0-10/4 59 * * * *']) await expectWalkAgrees(e, BERLIN, from + 2 * HOUR + 50 * MIN, from + 3 * HOUR + 10 * MIN);
    // The scheduler passes no time zone: node-cron and nextRunAt use the process's.
    await expectWalkAgrees('*/7 * * * *', undefined, from, to);
    await expectWalkAgrees('*/20 * * * * *', undefined, from + 3 * HOUR - 10 * MIN, from + 3 * HOUR + 10 * MIN);
  });

  it('month ends, 29 February, weekdays (7 is Sunday), day of month AND day of week, L / W / #: over months and years', async () => {
    const cases: [expression: string, from: string, to: string][] = [
      ['0 0 31 * *', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ['0 0 29 2 *', '2024-01-01T00:00:00Z', '2029-01-01T00:00:00Z'], // 2024 and 2028, nothing in between
      ['30 23 28-31 * *', '2025-01-15T00:00:00Z', '2025-05-15T00:00:00Z'],
      ['0 12 * * 7', '2025-01-01T00:00:00Z', '2025-03-01T00:00:00Z'],
      ['0 12 * * 5-7', '2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z'],
      ['0 8 1,15 * 1', '2024-01-01T00:00:00Z', '2026-01-01T00:00:00Z'], // the 1st or 15th that is a Monday
      ['0 9 * jan,jul mon', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ['0 0 L * *', '2024-01-01T00:00:00Z', '2025-01-01T00:00:00Z'],
      ['0 0 L,15 * *', '2025-01-01T00:00:00Z', '2025-07-01T00:00:00Z'],
      ['0 0 L-2 * *', '2024-01-01T00:00:00Z', '2025-01-01T00:00:00Z'], // croner has no L-n: a superset, filtered by node-cron
      ['0 0 15W * *', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ['0 0 1W * *', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ['0 0 LW * *', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ['0 0 * * 5L', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ['0 0 * * 5#2', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ['0 0 * * 1#5', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
    ];
    for (const [e, f, t] of cases) {
      const from = ms(f);
      const to = ms(t);
      const fires = await nodeCronFires(e, BERLIN, from, to);
      expect(fires.length, e).toBeGreaterThanOrEqual(2);
      // From every occurrence and the second before it, every 29 hours, and the minute around
      // each occurrence.
      const bases = [...range(from, to, 29 * HOUR), ...fires.flatMap((x) => [x - 1000, x])];
      const probes = fires.flatMap((x) => [x - MIN, x, x + 1000, x + MIN]);
      expect(disagreements(e, BERLIN, fires, bases.sort((a, b) => a - b), probes, to), e).toEqual([]);
    }
  });

  for (const zone of [BERLIN, NEW_YORK] as const) {
    for (const change of ['spring', 'autumn'] as const) {
      it(`DST ${change} in ${zone}: 5-field schedules minute by minute, 6-field second by second around the change`, async () => {
        const at = ms(CHANGES[zone][change]);
        for (const e of ['30 2 * * *', '0 * * * *', '*/15 2 * * *', '30 1 * * *', '*/15 1 * * *', '0 3 * * *', '15,45 1-3 * * *', '*/10 * * * *']) {
          await expectWalkAgrees(e, zone, at - 2 * HOUR, at + 2 * HOUR, 0); // a skipped time may fire nowhere
        }
        // Every 20 s: second by second where the clock changes and where a repeated hour ends,
        // every 17 s (and around each occurrence) in between.
        const e = '*/20 * * * * *';
        const from = at - 75 * MIN;
        const to = at + 75 * MIN;
        const fires = await nodeCronFires(e, zone, from, to);
        const seams = [at - HOUR, at, at + HOUR].flatMap((s) => range(s - 60_000, s + 60_000, 1000));
        const bases = [...new Set([...range(from, to, 17_000), ...seams, ...fires.flatMap((x) => [x - 1000, x])])].sort((a, b) => a - b);
        const probes = [...seams, ...fires.flatMap((x) => [x - 1000, x, x + 1000])];
        expect(disagreements(e, zone, fires, bases, probes, to), `${e} in ${zone}`).toEqual([]);
      });
    }
  }

  it('counts occurrences as node-cron fires them (25-hour day in Berlin: 02:00 fires once), up to the cap', async () => {
    const from = ms('2025-10-25T22:00:00Z'); // 26 Oct 00:00 CEST
    const to = ms('2025-10-26T23:00:00Z'); // 27 Oct 00:00 CET
    const fires = await nodeCronFires('0 * * * *', BERLIN, from, to);
    expect(fires).toHaveLength(24);
    expect(countOccurrences('0 * * * *', from - 1, to, MISSED_COUNT_CAP, BERLIN)).toBe(24);
    expect(countOccurrences('*/20 * * * * *', from, to, MISSED_COUNT_CAP, BERLIN)).toBe(MISSED_COUNT_CAP);
    expect(countOccurrences('*/20 * * * * *', from, from + HOUR, 5000, BERLIN)).toBe(179); // strictly between
  });
});

describe('where croner alone would disagree with node-cron (why schedule-time.ts walks the wall clock)', () => {
  /** croner as its README configures it for node-cron's fields: AND of day fields, 5 or 6 fields. */
  const cronerAlone = (expression: string, timeZone: string, fromMs: number, toMs: number) => {
    const c = new Cron(expression, { paused: true, timezone: timeZone, domAndDow: true, mode: '5-or-6-parts' });
    const out: string[] = [];
    for (let d = c.nextRun(new Date(fromMs)); d && d.getTime() < toMs; d = c.nextRun(d)) out.push(d.toISOString());
    return out;
  };
  /** What nextOccurrence says fires from `fromMs` (inclusive) to `toMs` (exclusive). */
  const chain = (expression: string, timeZone: string, fromMs: number, toMs: number) => {
    const out: string[] = [];
    for (let t = nextOccurrence(expression, fromMs - 1000, timeZone); t !== null && t < toMs; t = nextOccurrence(expression, t, timeZone)) out.push(iso(t));
    return out;
  };

  it('DST: node-cron skips a time the clock skips, and fires a repeated time once (Berlin: the second pass; New York: the first)', async () => {
    const rows: { e: string; zone: string; from: string; to: string; nodeCron: string[]; croner: string[] }[] = [
      // 30 Mar 2025, Berlin: 02:30 does not exist. node-cron does not run that day; croner runs at 03:00 CEST.
      { e: '30 2 * * *', zone: BERLIN, from: '2025-03-29T23:00:00Z', to: '2025-03-31T02:00:00Z', nodeCron: ['2025-03-31T00:30:00.000Z'], croner: ['2025-03-30T01:00:00.000Z', '2025-03-31T00:30:00.000Z'] },
      // 26 Oct 2025, Berlin: 02:30 happens twice. node-cron fires at 02:30 CET (the second); croner at 02:30 CEST (the first).
      { e: '30 2 * * *', zone: BERLIN, from: '2025-10-25T22:00:00Z', to: '2025-10-26T04:00:00Z', nodeCron: ['2025-10-26T01:30:00.000Z'], croner: ['2025-10-26T00:30:00.000Z'] },
      // Interval schedules too: node-cron fires no quarter in the CEST pass of 02:00–02:59; croner fires both passes.
      {
        e: '*/15 2 * * *', zone: BERLIN, from: '2025-10-25T22:00:00Z', to: '2025-10-26T04:00:00Z',
        nodeCron: ['01:00', '01:15', '01:30', '01:45'].map((t) => `2025-10-26T${t}:00.000Z`),
        croner: ['00:00', '00:15', '00:30', '00:45', '01:00', '01:15', '01:30', '01:45'].map((t) => `2025-10-26T${t}:00.000Z`),
      },
      { e: '0 * * * *', zone: BERLIN, from: '2025-10-25T23:30:00Z', to: '2025-10-26T02:30:00Z', nodeCron: ['2025-10-26T01:00:00.000Z', '2025-10-26T02:00:00.000Z'], croner: ['2025-10-26T00:00:00.000Z', '2025-10-26T01:00:00.000Z', '2025-10-26T02:00:00.000Z'] },
      // 2 Nov 2025, New York: 01:15 happens twice. node-cron fires the first (EDT) pass only, croner both.
      { e: '*/15 1 * * *', zone: NEW_YORK, from: '2025-11-02T04:00:00Z', to: '2025-11-02T08:00:00Z', nodeCron: ['05:00', '05:15', '05:30', '05:45'].map((t) => `2025-11-02T${t}:00.000Z`), croner: ['05:00', '05:15', '05:30', '05:45', '06:00', '06:15', '06:30', '06:45'].map((t) => `2025-11-02T${t}:00.000Z`) },
    ];
    for (const r of rows) {
      const from = ms(r.from);
      const to = ms(r.to);
      expect((await nodeCronFires(r.e, r.zone, from, to)).map(iso), `node-cron: ${r.e} in ${r.zone}`).toEqual(r.nodeCron);
      expect(chain(r.e, r.zone, from, to), `nextOccurrence: ${r.e} in ${r.zone}`).toEqual(r.nodeCron);
      expect(cronerAlone(r.e, r.zone, from, to), `croner alone: ${r.e} in ${r.zone}`).toEqual(r.croner);
    }
    // The one difference left: nextOccurrence names what a task running through the night fires.
    // A task node-cron arms during the pass it does not fire (02:10 CEST) starts after that wall-
    // clock time in the other pass, so it skips 02:00 CET, which a running task fires.
    const armed = ms('2025-10-26T00:10:00Z');
    expect((await nodeCronFires('*/15 2 * * *', BERLIN, armed + 1000, ms('2025-10-26T02:00:00Z'))).map(iso)).toEqual(['01:15', '01:30', '01:45'].map((t) => `2025-10-26T${t}:00.000Z`));
    expect(iso(nextOccurrence('*/15 2 * * *', armed, BERLIN))).toBe('2025-10-26T01:00:00.000Z');
    // node-cron's public match() says yes to both passes of a repeated time; only one fires.
    const task = cron.createTask('30 2 * * *', () => {}, { timezone: BERLIN });
    expect([task.match(new Date('2025-10-26T00:30:00Z')), task.match(new Date('2025-10-26T01:30:00Z'))]).toEqual([true, true]);
    await task.destroy();
    expect([isOccurrence('30 2 * * *', ms('2025-10-26T00:30:00Z'), BERLIN), isOccurrence('30 2 * * *', ms('2025-10-26T01:30:00Z'), BERLIN)]).toEqual([false, true]);
  });

  it('fields: node-cron takes wrapping ranges and L-n, which croner refuses; its day fields are AND, croner defaults to OR', async () => {
    expect(() => new Cron('0 22-2 * * *', { paused: true })).toThrow(/From value is larger than to value/);
    expect(() => new Cron('0 0 L-2 * *', { paused: true })).toThrow(/L has to be a value of its own/);
    const from = ms('2025-01-01T00:00:00Z');
    expect(chain('0 22-2 * * *', BERLIN, from, from + 6 * HOUR)).toEqual((await nodeCronFires('0 22-2 * * *', BERLIN, from, from + 6 * HOUR)).map(iso));
    // `0 8 1,15 * 1`: node-cron = the 1st or 15th when it is a Monday; croner's default = either.
    const orDefault = new Cron('0 8 1,15 * 1', { paused: true, timezone: BERLIN }).nextRuns(3, new Date(from)).map((d) => d.toISOString());
    expect(orDefault).toEqual(['2025-01-01T07:00:00.000Z', '2025-01-06T07:00:00.000Z', '2025-01-13T07:00:00.000Z']);
    expect(chain('0 8 1,15 * 1', BERLIN, from, ms('2026-01-01T00:00:00Z'))).toEqual(['2025-09-01T06:00:00.000Z', '2025-09-15T06:00:00.000Z', '2025-12-01T07:00:00.000Z', '2025-12-15T07:00:00.000Z']);
  });
});

describe('nextRunAt', () => {
  it('is null without a schedule, when paused, or for an expression node-cron cannot read; else the next occurrence', () => {
    const now = ms('2025-06-01T12:00:10Z');
    expect(nextRunAt({ schedule: null }, now)).toBeNull();
    expect(nextRunAt({ schedule: '*/5 * * * *', paused: true }, now)).toBeNull();
    expect(nextRunAt({ schedule: '61 * * * *' }, now)).toBeNull();
    expect(nextRunAt({ schedule: 'not cron' }, now)).toBeNull();
    expect(nextRunAt({ schedule: '*/5 * * * *' }, now)).toBe(nextOccurrence('*/5 * * * *', now));
    expect(new Date(nextRunAt({ schedule: '*/5 * * * *' }, now)!).getMinutes() % 5).toBe(0);
  });
});
