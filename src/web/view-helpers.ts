import { describeBotState, type BotState, type BotStateKind } from '../engine/bot-status.ts';
import { isRunStatus, RUN_STATUS_TABLE, type RunStatusFacts } from '../engine/run-status.ts';

// Formatters are built once: building one per call (toLocaleTimeString with options) costs more
// than the rest of a card's rendering. The process's time zone, like the scheduler's.
const CLOCK = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const CLOCK_SECONDS = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const DAY = new Intl.DateTimeFormat('en-GB', { day: '2-digit', month: 'short' });
const DATE_KEY = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit' });

const LEVEL_CLASS: Record<RunStatusFacts['level'], string> = { info: 'idle', success: 'ok', warn: 'warn', error: 'error' };
const STATE_CLASS: Record<BotStateKind, string> = {
  running: 'running',
  queued: 'queued',
  paused: 'paused',
  waiting: 'queued',
  failed: 'error',
  scheduled: 'scheduled',
  idle: 'idle',
};

// 16×16 strokes and fills in currentColor.
const stroke = (d: string) => `<path d="${d}" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>`;
const ICONS = {
  play: '<path d="M4.5 2.8v10.4L13 8z" fill="currentColor"/>',
  pause: '<rect x="3.5" y="2.8" width="3" height="10.4" rx=".6" fill="currentColor"/><rect x="9.5" y="2.8" width="3" height="10.4" rx=".6" fill="currentColor"/>',
  stop: '<rect x="3.5" y="3.5" width="9" height="9" rx="1" fill="currentColor"/>',
  plus: stroke('M8 3v10M3 8h10'),
  close: stroke('M4 4l8 8M12 4l-8 8'),
  log: stroke('M3 3.5h10M3 6.5h10M3 9.5h7M3 12.5h5'),
  pin: stroke('M6 2.5h4l-.5 4 2 2H4.5l2-2zM8 8.5v5'),
  trash: stroke('M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.7 8.5h5.6l.7-8.5'),
  clock: '<circle cx="8" cy="8" r="5.7" fill="none" stroke="currentColor" stroke-width="1.6"/>' + stroke('M8 5v3.2l2 1.3'),
  gear: '<circle cx="8" cy="8" r="2.2" fill="none" stroke="currentColor" stroke-width="1.6"/>' + stroke('M8 1.8v2M8 12.2v2M1.8 8h2M12.2 8h2M3.6 3.6l1.4 1.4M11 11l1.4 1.4M3.6 12.4 5 11M11 5l1.4-1.4'),
  link: stroke('M6.5 9.5l3-3M7 4.5l1-1a2.5 2.5 0 0 1 3.5 3.5l-1 1M9 11.5l-1 1A2.5 2.5 0 0 1 4.5 9l1-1'),
  steps: stroke('M2.5 4h3v3h-3zM10.5 9h3v3h-3zM5.5 5.5h3v5h2'),
  doc: stroke('M4 2.5h5l3 3v8H4zM9 2.5v3h3'),
  list: stroke('M5.5 4h8M5.5 8h8M5.5 12h8M2.5 4h.5M2.5 8h.5M2.5 12h.5'),
  chart: stroke('M2.5 13.5h11M4.5 11V8M8 11V4.5M11.5 11V6.5'),
  search: '<circle cx="7" cy="7" r="4.3" fill="none" stroke="currentColor" stroke-width="1.6"/>' + stroke('M10.2 10.2l3.3 3.3'),
  prev: stroke('M10 3.5 5.5 8l4.5 4.5'),
  next: stroke('M6 3.5l4.5 4.5L6 12.5'),
  back: stroke('M13 8H3.5M7 4 3 8l4 4'),
  orbit: '<circle cx="8" cy="8" r="2.3" fill="currentColor"/><ellipse cx="8" cy="8" rx="6.5" ry="3" fill="none" stroke="currentColor" stroke-width="1.3" transform="rotate(-30 8 8)"/>',
} as const;

const EMOJI = /(?:\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier})?(?:\u200D\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier})?)*|[\u{1F1E6}-\u{1F1FF}]{2})/gu;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML as eta's `<%= %>` does. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** Names of the inline icons (see `view.icon`). */
export type IconName = keyof typeof ICONS;

/** Formatting helpers available to every template as `it.h`. Times are shown in the process's TZ. */
export const view = {
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  time(ms: number | null | undefined): string {
    if (ms == null) return '—';
    return CLOCK_SECONDS.format(ms);
  },
  dateTime(ms: number | null | undefined): string {
    if (ms == null) return '—';
    const t = CLOCK.format(ms);
    return DATE_KEY.format(ms) === DATE_KEY.format(Date.now()) ? t : `${DAY.format(ms)} ${t}`;
  },
  duration(ms: number | null | undefined): string {
    if (ms == null) return '—';
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  },
  /**
   * The label and CSS class of a run (or pipeline run) status, from the run status table; `paused`
   * and `idle` for the settings panel and connections.
   */
  status(s: string | null | undefined): { label: string; cls: string } {
    if (isRunStatus(s)) {
      const facts = RUN_STATUS_TABLE[s];
      return { label: facts.label, cls: s === 'running' || s === 'queued' ? s : LEVEL_CLASS[facts.level] };
    }
    if (s === 'paused') return { label: 'Paused', cls: 'paused' };
    if (s === 'idle') return { label: 'Idle', cls: 'idle' };
    return { label: s ?? '—', cls: 'idle' };
  },
  /** A bot's state as its badge shows it: label, hover text and CSS class (see bot-status.ts). */
  botState(bot: { state: BotState }): { label: string; title: string | null; cls: string } {
    const d = describeBotState(bot.state, (ms) => view.dateTime(ms));
    return { ...d, cls: STATE_CLASS[d.tone] };
  },
  /** The activity feed's mark of a level: a glyph every font has. */
  levelIcon(level: string): string {
    return level === 'success' ? '✓' : level === 'error' ? '✗' : level === 'warn' ? '!' : 'i';
  },
  /** An inline SVG icon (UI chrome never depends on an emoji font); decorative, hidden from screen readers. */
  icon(name: IconName): string {
    return `<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">${ICONS[name]}</svg>`;
  },
  bytes(n: number): string {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  },
  excerpt(s: string | null | undefined, n = 160): string {
    const t = (s ?? '').replace(/\s+/g, ' ').trim();
    return t.length > n ? t.slice(0, n - 1) + '…' : t;
  },
  /**
   * `s` as HTML with each emoji (a pictograph with its variation selector, skin tone and ZWJ
   * parts, or a flag) wrapped in `<span class="emoji">`, whose font list starts with the emoji
   * fonts: Chromium on Linux otherwise lets the text font answer for an emoji it lacks (a box).
   * Everything else is escaped. Use with `<%~ %>`.
   */
  withEmoji(s: string | null | undefined): string {
    return escapeHtml(s ?? '').replace(EMOJI, (e) => `<span class="emoji">${e}</span>`);
  },
  /** Only http(s) links are rendered as links. */
  safeUrl(u: string | null | undefined): string | null {
    if (!u) return null;
    try {
      const p = new URL(u);
      return p.protocol === 'http:' || p.protocol === 'https:' ? p.toString() : null;
    } catch {
      return null;
    }
  },
};
