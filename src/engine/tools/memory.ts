import fs from 'node:fs';
import path from 'node:path';
import { walkFiles } from './files.ts';

/** How much of each always-read file goes into the system prompt, in bytes. */
export const ALWAYS_READ_BYTES = 8 * 1024;
/** Most always-read files included. */
const ALWAYS_READ_FILES = 8;
/** Most files listed in the system prompt. */
const LISTED_FILES = 100;

/**
 * Whether a document is always read into the system prompt: `memory.md` (any case) and any file
 * named `*.always.md`, at the top of the folder. A bot marks a file always-read by naming it so.
 */
export function isAlwaysRead(name: string): boolean {
  const n = name.toLowerCase();
  return !n.includes('/') && (n === 'memory.md' || n.endsWith('.always.md'));
}

/**
 * The memory section of a run's system prompt: the docs folder's files (path, size, modified) and
 * the first {@link ALWAYS_READ_BYTES} of each always-read file.
 * @param filesTool whether the bot can use the file tools (changes what the section tells it).
 * @returns '' when the folder is empty and the bot has no file tools: nothing worth saying.
 */
export function memorySection(docsPath: string, filesTool: boolean): string {
  const files = fs.existsSync(docsPath) ? walkFiles(docsPath, LISTED_FILES + 1) : [];
  if (files.length === 0 && !filesTool) return '';
  const out: string[] = ['## Your documents (your memory between runs)'];
  if (files.length === 0) {
    out.push('Your documents folder is empty. Keep notes for your next runs with write_file; memory.md is shown to you at the start of every run.');
    return out.join('\n');
  }
  out.push('Files in your documents folder (path, size, last modified UTC):');
  for (const f of files.slice(0, LISTED_FILES)) out.push(`- ${f.path} · ${f.size} B · ${new Date(f.modifiedAt).toISOString().slice(0, 16).replace('T', ' ')}`);
  if (files.length > LISTED_FILES) out.push(`- … and more (list_files shows all)`);
  out.push(filesTool ? 'Use read_file, write_file and append_file on them.' : 'You have no file tools in this run; only the files below are shown to you.');
  const always = files.filter((f) => isAlwaysRead(f.path)).slice(0, ALWAYS_READ_FILES);
  for (const f of always) {
    const fd = fs.openSync(path.join(docsPath, f.path), 'r');
    try {
      const buf = Buffer.alloc(Math.min(f.size, ALWAYS_READ_BYTES));
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      // Cut at a whole character: a partial UTF-8 sequence at the end would decode as U+FFFD.
      const text = buf.subarray(0, n).toString('utf8').replace(/\uFFFD+$/, '');
      out.push('', `### ${f.path} (always read${f.size > ALWAYS_READ_BYTES ? `; first ${ALWAYS_READ_BYTES / 1024} KB of ${f.size} B` : ''})`, text);
    } finally {
      fs.closeSync(fd);
    }
  }
  return out.join('\n');
}
