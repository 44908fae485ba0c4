/** Formatting helpers available to every template as `it.h`. Times are shown in the process's TZ. */
export const view = {
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  time(ms: number | null | undefined): string {
    if (ms == null) return '—';
    return new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  },
  dateTime(ms: number | null | undefined): string {
    if (ms == null) return '—';
    const d = new Date(ms);
    const today = new Date().toDateString() === d.toDateString();
    const t = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
    return today ? t : `${d.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' })} ${t}`;
  },
  duration(ms: number | null | undefined): string {
    if (ms == null) return '—';
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  },
  /** The label and CSS class of a bot or run status. */
  status(s: string | null | undefined): { label: string; cls: string } {
    switch (s) {
      case 'running':
        return { label: 'Running', cls: 'running' };
      case 'queued':
        return { label: 'Queued', cls: 'queued' };
      case 'paused':
        return { label: 'Paused', cls: 'paused' };
      case 'completed':
        return { label: 'Completed', cls: 'ok' };
      case 'failed':
        return { label: 'Failed', cls: 'error' };
      case 'cancelled':
        return { label: 'Cancelled', cls: 'muted' };
      case 'interrupted':
        return { label: 'Interrupted', cls: 'warn' };
      case 'awaiting_approval':
        return { label: 'Awaiting approval', cls: 'warn' };
      case 'rejected':
        return { label: 'Rejected', cls: 'muted' };
      case 'idle':
        return { label: 'Idle', cls: 'idle' };
      default:
        return { label: s ?? '—', cls: 'idle' };
    }
  },
  levelIcon(level: string): string {
    return level === 'success' ? '✅' : level === 'error' ? '❌' : level === 'warn' ? '⚠️' : 'ℹ️';
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
