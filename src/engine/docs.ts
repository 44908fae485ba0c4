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

/**
 * Checks a document name: one plain file name (no folders, no `..`, no leading dot, no control
 * characters), at most 200 characters.
 * @throws {AppError} DOC_INVALID_NAME
 */
export function checkDocName(name: string): string {
  const n = name.normalize('NFC');
  if (!n || n.length > 200 || n.startsWith('.') || /[/\\\u0000-\u001f]/.test(n) || path.basename(n) !== n) {
    throw new AppError('DOC_INVALID_NAME', `"${name}" is not a valid document name: use a plain file name such as notes.md.`);
  }
  return n;
}

/** A bot's docs folder, its memory: flat files, written atomically. */
export class DocsStore {
  /** Files in `folder`, by name. Symlinks and sub-folders are not listed. */
  list(folder: string): DocInfo[] {
    if (!fs.existsSync(folder)) return [];
    return fs
      .readdirSync(folder, { withFileTypes: true })
      .filter((d) => d.isFile() && !d.name.startsWith('.'))
      .map((d) => {
        const st = fs.statSync(path.join(folder, d.name));
        return { name: d.name, size: st.size, modifiedAt: Math.round(st.mtimeMs) };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
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
    fs.mkdirSync(folder, { recursive: true });
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (st && !st.isFile()) throw new AppError('DOC_INVALID_NAME', `"${name}" is not a regular file.`);
    const tmp = path.join(folder, `.${randomBytes(6).toString('hex')}.tmp`);
    fs.writeFileSync(tmp, buf);
    fs.renameSync(tmp, file);
    const after = fs.statSync(file);
    return { name: path.basename(file), size: after.size, modifiedAt: Math.round(after.mtimeMs) };
  }

  /** @throws {AppError} DOC_INVALID_NAME, DOC_NOT_FOUND */
  delete(folder: string, name: string): void {
    const file = this.resolve(folder, name);
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st || !st.isFile()) throw new AppError('DOC_NOT_FOUND', `No document named "${name}".`);
    fs.unlinkSync(file);
  }

  private resolve(folder: string, name: string): string {
    return path.join(folder, checkDocName(name));
  }
}
