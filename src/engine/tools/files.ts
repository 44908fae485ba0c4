import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MAX_DOC_BYTES, realPathInside } from '../docs.ts';
import { defineTool, ToolError, type Tool } from './tool.ts';

/** Most characters `read_file` returns at once. */
export const READ_LIMIT_CHARS = 64_000;
/** Most entries `list_files` returns. */
const LIST_LIMIT = 500;

/**
 * Resolves a path the model gave to a real path inside `docsPath`.
 * Refused: empty, absolute paths, `..` segments, hidden names (a leading dot), and anything whose
 * real path (following symlinks, including one at the end) lies outside the folder.
 * @throws {ToolError} naming the reason.
 */
export function resolveInDocs(docsPath: string, given: string): string {
  const p = given.trim().replace(/\\/g, '/');
  if (!p) throw new ToolError('path is empty');
  if (p.includes('\u0000')) throw new ToolError('path contains a NUL character');
  if (path.isAbsolute(p) || /^[a-zA-Z]:/.test(p)) throw new ToolError(`"${given}" is an absolute path; give a path relative to your documents folder, e.g. notes.md`);
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw new ToolError(`"${given}" contains "..": paths must stay inside your documents folder`);
  if (parts.length === 0) throw new ToolError(`"${given}" names the folder itself, not a file`);
  if (parts.some((s) => s.startsWith('.'))) throw new ToolError(`"${given}": hidden names (starting with a dot) are not allowed`);

  const real = realPathInside(docsPath, parts);
  if (real === 'dangling') throw new ToolError(`"${given}" is a link that points nowhere`);
  if (real === 'not-a-folder') throw new ToolError(`"${given}": part of this path is a file, not a folder`);
  if (real === 'outside') throw new ToolError(`"${given}" leads outside your documents folder (a symlink); refused`);
  return real;
}

function rel(docsPath: string, file: string): string {
  return path.relative(fs.realpathSync(docsPath), file).split(path.sep).join('/');
}

/** Files under `dir` (recursively, hidden names skipped), as paths relative to `root`. */
export function walkFiles(root: string, limit = LIST_LIMIT): { path: string; size: number; modifiedAt: number }[] {
  const out: { path: string; size: number; modifiedAt: number }[] = [];
  const visit = (dir: string, prefix: string, depth: number) => {
    if (depth > 8) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (out.length >= limit) return;
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) visit(full, `${prefix}${e.name}/`, depth + 1);
      else if (e.isFile()) {
        const st = fs.statSync(full);
        out.push({ path: prefix + e.name, size: st.size, modifiedAt: st.mtimeMs });
      }
    }
  };
  visit(root, '', 0);
  return out;
}

function writeAtomic(file: string, data: string): void {
  const tmp = path.join(path.dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function checkSize(bytes: number): void {
  if (bytes > MAX_DOC_BYTES) throw new ToolError(`the file would be larger than ${MAX_DOC_BYTES / 1024 / 1024} MiB; refused`);
}

const pathArg = z.string().min(1).describe('Path relative to your documents folder, e.g. "notes.md" or "deals/2024.md"');

/** `list_files`: the files of the bot's docs folder with size and modification time. */
export const listFiles = defineTool({
  name: 'list_files',
  description: 'List the files in your documents folder (your memory between runs): path, size in bytes, last modified (UTC).',
  schema: z.object({}),
  async run(_args, ctx) {
    const files = walkFiles(ctx.docsPath);
    if (files.length === 0) return 'Your documents folder is empty.';
    return files.map((f) => `${f.path}\t${f.size} B\t${new Date(f.modifiedAt).toISOString()}`).join('\n');
  },
});

/** `read_file`: a text file of the docs folder, up to {@link READ_LIMIT_CHARS} characters from `offset`. */
export const readFile = defineTool({
  name: 'read_file',
  description: `Read a text file from your documents folder. Returns at most ${READ_LIMIT_CHARS} characters; use offset to read further.`,
  schema: z.object({
    path: pathArg,
    offset: z.number().int().min(0).optional().describe('Character offset to start from (default 0)'),
  }),
  async run(args, ctx) {
    const file = resolveInDocs(ctx.docsPath, args.path);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) throw new ToolError(`no file "${args.path}" (list_files shows what exists)`);
    if (!st.isFile()) throw new ToolError(`"${args.path}" is not a file`);
    const buf = fs.readFileSync(file);
    if (buf.subarray(0, 8192).includes(0)) throw new ToolError(`"${args.path}" is a binary file (${buf.length} bytes); only text files can be read`);
    const text = buf.toString('utf8');
    const from = args.offset ?? 0;
    const part = text.slice(from, from + READ_LIMIT_CHARS);
    const end = from + part.length;
    return end < text.length ? `${part}\n[… ${text.length - end} more characters; read on with offset ${end}]` : part;
  },
});

/** `write_file`: creates or replaces a file in the docs folder (folders created as needed). */
export const writeFile = defineTool({
  name: 'write_file',
  description: 'Create or replace a text file in your documents folder. Sub-folders are created as needed. Files named memory.md or *.always.md are shown to you at the start of every run.',
  schema: z.object({ path: pathArg, content: z.string().describe('The whole new content of the file') }),
  async run(args, ctx) {
    const file = resolveInDocs(ctx.docsPath, args.path);
    checkSize(Buffer.byteLength(args.content));
    if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw new ToolError(`"${args.path}" is a folder`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeAtomic(file, args.content);
    return `Wrote ${Buffer.byteLength(args.content)} bytes to ${rel(ctx.docsPath, file)}.`;
  },
});

/** `append_file`: appends to a file in the docs folder, creating it when missing. */
export const appendFile = defineTool({
  name: 'append_file',
  description: 'Append text to a file in your documents folder (created when missing). Add a trailing newline yourself if you want one.',
  schema: z.object({ path: pathArg, content: z.string().describe('Text to add at the end') }),
  async run(args, ctx) {
    const file = resolveInDocs(ctx.docsPath, args.path);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new ToolError(`"${args.path}" is a folder`);
    checkSize((st?.size ?? 0) + Buffer.byteLength(args.content));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, args.content);
    return `Appended ${Buffer.byteLength(args.content)} bytes to ${rel(ctx.docsPath, file)} (now ${fs.statSync(file).size} bytes).`;
  },
});

/** The `files` tool family. */
export const fileTools: Tool[] = [listFiles, readFile, writeFile, appendFile];
