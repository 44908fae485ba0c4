import pg from 'pg';

/** What a {@link LeaderElection} is told and asked. */
export interface LeaderElectionOptions {
  /** `postgres://…` of the cluster's database. */
  connectionString: string;
  /**
   * What is being led, e.g. `telegram-poller`: one leader per name across all processes on the
   * database. Hashed to the 64-bit key of `pg_try_advisory_lock` by Postgres' `hashtextextended`.
   */
  name: string;
  /** How often a process that is not the leader tries again (ms); also the longest gap after a leader dies. Default 2,000. */
  retryMs?: number;
  /** This process became the leader (start the poller). Errors it throws are reported to `onError`. */
  onElected: () => void | Promise<void>;
  /** This process stopped being the leader (its connection to Postgres broke, or `stop()`): stop the work at once. */
  onDeposed: () => void | Promise<void>;
  onError?: (err: unknown) => void;
}

/**
 * Leader election over a Postgres session-level advisory lock
 * (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS): the process
 * whose connection holds the lock leads. The lock lives as long as that connection, so when the
 * leader dies (even `kill -9`) the server drops its socket and the lock with it, and the next
 * process to try takes it, within `retryMs`. A leader whose connection breaks is deposed at once
 * (it can no longer prove it leads), then competes again on a new connection.
 */
export class LeaderElection {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private stopped = false;
  private readonly retryMs: number;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.retryMs = opts.retryMs ?? 2000;
  }

  /** `true` while this process holds the lock. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts competing; resolves after the first try (elected or not). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.attempt();
  }

  /** Gives up the lead (if held) and stops competing. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    await this.depose();
    await client?.end().catch(() => {});
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.opts.connectionString, application_name: `oo-leader:${this.opts.name}` });
        // A broken connection loses the lock: the lead ends now, the next try reconnects.
        client.on('error', (err) => this.lost(client, err));
        client.on('end', () => this.lost(client, null));
        await client.connect();
        this.client = client;
      }
      const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [this.opts.name]);
      if (rows[0]?.ok && !this.stopped) {
        this.leading = true;
        await Promise.resolve(this.opts.onElected()).catch((err) => this.opts.onError?.(err));
        return;
      }
    } catch (err) {
      this.opts.onError?.(err);
      const c = this.client;
      this.client = null;
      await c?.end().catch(() => {});
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.attempt();
    }, this.retryMs);
    this.timer.unref();
  }

  private lost(client: pg.Client, err: Error | null): void {
    if (this.client !== client) return;
    this.client = null;
    if (err) this.opts.onError?.(err);
    void this.depose().then(() => this.schedule());
  }

  private async depose(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    await Promise.resolve(this.opts.onDeposed()).catch((err) => this.opts.onError?.(err));
  }
}
