/**
 * Per-bot secrets (seed 003: "secrets filesystem infrastructure", directory 0700, files 0600,
 * deleted with the bot): named values a bot's runs may use — its own provider key
 * (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, see `providers/index.ts`), a site login, a token.
 *
 * Each secret is one file, `DATA_DIR/secrets/bots/<botId>/<NAME>`, holding the value as UTF-8.
 * The `bots/` level keeps bots apart from other owners of `DATA_DIR/secrets/` (per-user chat
 * tokens live under `secrets/users/<userId>/`), so no bot id can name another owner's folder.
 * Values are never written to the database, logs, API answers, pages or the activity feed: only
 * names (and when they were last set) leave this module, except through {@link BotSecretStore.values},
 * which the run engine alone calls to hand a run its bot's secrets.
 *
 * Modes are given when a folder or file is created (`mkdir`/`open` with 0700/0600), so there is
 * no moment where another user could read it; the umask can only take bits away, and a mode found
 * wider or narrower than that afterwards (a folder made by hand, an odd umask) is set right.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { validationFailed } from './bots.ts';
import { AppError } from './errors.ts';
import { PROVIDER_KEY_SECRETS } from './providers/index.ts';
import type { ProviderName } from './providers/models.ts';

/** A secret's name: an upper-case letter, then up to 63 upper-case letters, digits or `_` (like an environment variable). */
export const SECRET_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
/** The largest value, in bytes of UTF-8 (8 KiB: room for a PEM key, not for a document). */
export const MAX_SECRET_BYTES = 8192;
/** The shortest value, in characters: a shorter one would be redacted out of every log line that happens to contain it. */
export const MIN_SECRET_CHARS = 4;
/** At most this many secrets per bot. */
export const MAX_SECRETS_PER_BOT = 50;
/** Mode of every secrets folder (owner only). */
export const SECRET_DIR_MODE = 0o700;
/** Mode of every secret file (owner read/write only). */
export const SECRET_FILE_MODE = 0o600;

/** A secret as anyone but a run may see it: its name and when it was last set (epoch ms). */
export interface SecretInfo {
  name: string;
  updatedAt: number;
}

/** `DATA_DIR/secrets/bots/<botId>`: the folder of one bot's secrets. */
export function botSecretsDir(dataDir: string, botId: number): string {
  return path.join(dataDir, 'secrets', 'bots', String(botId));
}

/**
 * Removes a bot's secrets folder (nothing when it has none). Called when the bot is deleted.
 * @throws {Error} when the folder exists but cannot be removed.
 */
export function removeBotSecrets(dataDir: string, botId: number): void {
  fs.rmSync(botSecretsDir(dataDir, botId), { recursive: true, force: true });
}

/**
 * Checks a secret name against {@link SECRET_NAME_PATTERN}.
 * @throws {AppError} VALIDATION_FAILED (field `name`).
 */
export function checkSecretName(name: string): string {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw validationFailed([{ field: 'name', message: `name "${name.slice(0, 80)}" is not a secret name: use an upper-case letter, then up to 63 upper-case letters, digits or _ (like OPENAI_API_KEY)` }]);
  }
  return name;
}

/**
 * The secrets of every bot, on disk under `DATA_DIR/secrets/bots/`. Thread of control: the web
 * and chat adapters list, set and delete; the run engine reads the values of the bot it starts.
 */
export class BotSecretStore {
  constructor(private readonly dataDir: string) {}

  /** The bot's secrets, names only, sorted by name; `[]` when it has none. */
  list(botId: number): SecretInfo[] {
    const dir = botSecretsDir(this.dataDir, botId);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: SecretInfo[] = [];
    for (const name of names.filter((n) => SECRET_NAME_PATTERN.test(n)).sort()) {
      const st = fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false });
      if (st?.isFile()) out.push({ name, updatedAt: Math.round(st.mtimeMs) });
    }
    return out;
  }

  /**
   * Sets (creates or replaces) one secret. Surrounding whitespace of `value` is dropped (a pasted
   * key's trailing newline). The file is written beside its place and renamed over it, so a run
   * reads the old value or the new one, never half of one.
   * @throws {AppError} VALIDATION_FAILED for a bad name, a value shorter than {@link MIN_SECRET_CHARS}
   * or longer than {@link MAX_SECRET_BYTES}, or a bot that has {@link MAX_SECRETS_PER_BOT} already.
   */
  set(botId: number, name: string, value: string): SecretInfo {
    checkSecretName(name);
    const v = value.trim();
    if (v.length < MIN_SECRET_CHARS) throw validationFailed([{ field: 'value', message: `value must be at least ${MIN_SECRET_CHARS} characters` }]);
    if (Buffer.byteLength(v, 'utf8') > MAX_SECRET_BYTES) throw validationFailed([{ field: 'value', message: `value must be at most ${MAX_SECRET_BYTES} bytes` }]);
    const existing = this.list(botId);
    if (existing.length >= MAX_SECRETS_PER_BOT && !existing.some((s) => s.name === name)) {
      throw validationFailed([{ field: 'name', message: `name: a bot has at most ${MAX_SECRETS_PER_BOT} secrets; delete one first` }]);
    }
    const dir = this.ensureDir(botId);
    const file = path.join(dir, name);
    const tmp = path.join(dir, `.${name}.${crypto.randomBytes(6).toString('hex')}.tmp`);
    // O_EXCL | O_NOFOLLOW: a fresh file of ours, never one a link points at.
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, SECRET_FILE_MODE);
    try {
      if ((fs.fstatSync(fd).mode & 0o777) !== SECRET_FILE_MODE) fs.fchmodSync(fd, SECRET_FILE_MODE);
      fs.writeSync(fd, v, 0, 'utf8');
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    return { name, updatedAt: Math.round(fs.statSync(file).mtimeMs) };
  }

  /**
   * Deletes one secret.
   * @throws {AppError} VALIDATION_FAILED for a bad name, SECRET_NOT_FOUND when the bot has none by that name.
   */
  delete(botId: number, name: string): void {
    checkSecretName(name);
    try {
      fs.unlinkSync(path.join(botSecretsDir(this.dataDir, botId), name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new AppError('SECRET_NOT_FOUND', `Bot ${botId} has no secret named ${name}.`);
      throw err;
    }
  }

  /**
   * The values of the bot's secrets by name, for the run engine to hand to that bot's run (and
   * nothing else: never log or show them). `{}` when it has none.
   */
  values(botId: number): Record<string, string> {
    const dir = botSecretsDir(this.dataDir, botId);
    const out: Record<string, string> = {};
    for (const { name } of this.list(botId)) {
      const fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        out[name] = fs.readFileSync(fd, 'utf8');
      } finally {
        fs.closeSync(fd);
      }
    }
    return out;
  }

  /** The providers the bot has its own key for: a secret named as in {@link PROVIDER_KEY_SECRETS}. */
  ownProviders(botId: number): ProviderName[] {
    const names = new Set(this.list(botId).map((s) => s.name));
    return (Object.keys(PROVIDER_KEY_SECRETS) as (keyof typeof PROVIDER_KEY_SECRETS)[]).filter((p) => names.has(PROVIDER_KEY_SECRETS[p]));
  }

  /** Makes `secrets/`, `secrets/bots/` and the bot's folder, each 0700; returns the bot's. */
  private ensureDir(botId: number): string {
    const leaf = botSecretsDir(this.dataDir, botId);
    for (const dir of [path.dirname(path.dirname(leaf)), path.dirname(leaf), leaf]) {
      try {
        fs.mkdirSync(dir, { mode: SECRET_DIR_MODE });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const st = fs.lstatSync(dir);
      if (!st.isDirectory()) throw new Error(`${dir} is not a folder (a link or a file): secrets are not written there`);
      if ((st.mode & 0o777) !== SECRET_DIR_MODE) fs.chmodSync(dir, SECRET_DIR_MODE);
    }
    return leaf;
  }
}
