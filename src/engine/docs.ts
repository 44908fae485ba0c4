import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AppError } from './errors.ts';

/** Largest document accepted, in bytes (10 MiB). */
export const MAX_DOC_BYTES = 10 * 1024 * 1024;

/** One file in a bot's docs folder. */
export interface DocInfo {
  name: string;
  /** Size in bytes. */
  size: number;
  /** Last modification, epoch ms. */
  modifiedAt: number;
}

/** Deepest sub-folder nesting a document name may have. */
const MAX_DEPTH = 8;

/**
 * Checks a document name: a path relative to the docs folder, `/`-separated (`notes.md`,
 * `deals/seen.md`), at most 200 characters and 8 levels; no `..`, no empty or dot-first segments
 * (hidden files), no backslashes or control characters.
 * @returns the name, NFC-normalized.
 * @throws {AppError} DOC_INVALID_NAME
 */
export function checkDocName(name: string): string {
  const n = name.normalize('NFC');
  const parts = n.split('/');
  const bad =
    !n ||
    n.length > 200 ||
    parts.length > MAX_DEPTH ||
    /[\\\u0000-\u001f]/.test(n) ||
    parts.some((p) => p === '' || p.startsWith('.'));
  if (bad) {
    throw new AppError('DOC_INVALID_NAME', `"${name}" is not a valid document name: use a file name such as notes.md, or a path inside the folder such as deals/seen.md.`);
  }
  return n;
}

/**
 * The real path of `parts` (path segments, already checked) below `folder`, following symlinks
 * that exist on the way (one at the end too); what does not exist yet is appended as given.
 * @returns the path, or `outside` when a symlink leads out of the folder, `dangling` when a link
 *   points nowhere (or loops), `not-a-folder` when a file stands where the path needs a folder.
 *   Shared by the document store and the bots' file tools.
 */
export function realPathInside(folder: string, parts: string[]): string | 'outside' | 'dangling' | 'not-a-folder' {
  const root = fs.realpathSync(folder);
  let existing = path.join(root, ...parts);
  const rest: string[] = [];
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(existing, { throwIfNoEntry: false });
    } catch (err) {
      // A file used as a folder on the way (`notes.md/x`), or a symlink loop.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') return 'not-a-folder';
      if (code === 'ELOOP') return 'dangling';
      throw err;
    }
    if (st || existing === root) break;
    rest.unshift(path.basename(existing));
    existing = path.dirname(existing);
  }
  let real: string;
  try {
    real = path.join(fs.realpathSync(existing), ...rest);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'not-a-folder' : 'dangling';
  }
  return real === root || real.startsWith(root + path.sep) ? real : 'outside';
}

/**
 * The file a document name stands for inside `folder`, refusing names that a symlink already in
 * the folder would lead outside of.
 * @throws {AppError} DOC_INVALID_NAME
 */
export function resolveDocPath(folder: string, name: string): string {
  const real = realPathInside(folder, checkDocName(name).split('/'));
  if (real === 'dangling') throw new AppError('DOC_INVALID_NAME', `"${name}" is a link that points nowhere.`);
  if (real === 'not-a-folder') throw new AppError('DOC_NOT_FOUND', `No document named "${name}": part of its path is a file, not a folder.`);
  if (real === 'outside' || real === fs.realpathSync(folder)) throw new AppError('DOC_INVALID_NAME', `"${name}" leads outside the bot's folder.`);
  return real;
}

/** A bot's docs folder, its memory: files (in sub-folders too), written atomically. */
export class DocsStore {
  /** Every file in `folder` and its sub-folders, by relative name (`deals/seen.md`); hidden entries and symlinks are left out. */
  list(folder: string): DocInfo[] {
    if (!fs.existsSync(folder)) return [];
    const out: DocInfo[] = [];
    const walk = (dir: string, prefix: string, depth: number) => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        if (d.name.startsWith('.')) continue;
        const full = path.join(dir, d.name);
        if (d.isDirectory() && depth < MAX_DEPTH) walk(full, `${prefix}${d.name}/`, depth + 1);
        else if (d.isFile()) {
          const st = fs.statSync(full);
          out.push({ name: prefix + d.name, size: st.size, modifiedAt: Math.round(st.mtimeMs) });
        }
      }
    };
    walk(folder, '', 1);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** @throws {AppError} DOC_INVALID_NAME, DOC_NOT_FOUND */
  read(folder: string, name: string): Buffer {
    const file = this.resolve(folder, name);
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st || !st.isFile()) throw new AppError('DOC_NOT_FOUND', `No document named "${name}".`);
    return fs.readFileSync(file);
  }

  /**
   * Writes a document whole: to a temporary file first, then renamed, so a reader never sees half.
   * @throws {AppError} DOC_INVALID_NAME, DOC_TOO_LARGE (over {@link MAX_DOC_BYTES})
   */
  write(folder: string, name: string, data: Buffer | string): DocInfo {
    const file = this.resolve(folder, name);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length > MAX_DOC_BYTES) throw new AppError('DOC_TOO_LARGE', `"${name}" is larger than ${MAX_DOC_BYTES / 1024 / 1024} MiB.`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (st && !st.isFile()) throw new AppError('DOC_INVALID_NAME', `"${name}" is not a regular file.`);
    const tmp = path.join(path.dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
    fs.writeFileSync(tmp, buf);
    fs.renameSync(tmp, file);
    const after = fs.statSync(file);
    return { name: checkDocName(name), size: after.size, modifiedAt: Math.round(after.mtimeMs) };
  }

  /** @throws {AppError} DOC_INVALID_NAME, DOC_NOT_FOUND */
  delete(folder: string, name: string): void {
    const file = this.resolve(folder, name);
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st || !st.isFile()) throw new AppError('DOC_NOT_FOUND', `No document named "${name}".`);
    fs.unlinkSync(file);
  }

  private resolve(folder: string, name: string): string {
    fs.mkdirSync(folder, { recursive: true });
    return resolveDocPath(folder, name);
  }
}
