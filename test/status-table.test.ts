import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ACTIVE_RUN_STATUSES, FINAL_RUN_STATUSES, RUN_STATUSES, RUN_STATUS_TABLE, successRate } from '../src/engine/run-status.ts';

const root = path.resolve(import.meta.dirname, '..');
const STATUS_FILE = path.join(root, 'src/engine/run-status.ts');

/** Type-checks the project with `run-status.ts` replaced by `source`; returns the errors as `file(line): TSnnnn`. */
function typeCheckWith(source: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const host = ts.createCompilerHost(config.options);
  const read = host.readFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === STATUS_FILE ? source : read(f));
  const getSource = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, onError, fresh) => (path.resolve(f) === STATUS_FILE ? ts.createSourceFile(f, source, lang) : getSource(f, lang, onError, fresh));
  const program = ts.createProgram({ rootNames: config.fileNames.filter((f) => f.startsWith(path.join(root, 'src'))), options: { ...config.options, noEmit: true }, host });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${path.relative(root, d.file.fileName)}(${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1})` : '(global)';
    return `${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

describe('the run status table', () => {
  it('is where every status list comes from', () => {
    expect(RUN_STATUSES).toEqual(Object.keys(RUN_STATUS_TABLE));
    expect(ACTIVE_RUN_STATUSES).toEqual(['queued', 'running']);
    expect(FINAL_RUN_STATUSES).toEqual(['completed', 'failed', 'cancelled', 'interrupted', 'rejected']);
    // Waiting for a person is neither: it holds no slot, is not in the queue, and has not ended.
    expect(RUN_STATUSES.filter((s) => !ACTIVE_RUN_STATUSES.includes(s as never) && !FINAL_RUN_STATUSES.includes(s as never))).toEqual(['awaiting_approval']);
    // One success rate: successes over successes and failures; cancelled runs do not count.
    expect(successRate({ completed: 3, failed: 1, cancelled: 5, queued: 2 })).toBe(75);
    expect(successRate({ cancelled: 2 })).toBeNull();
    // A person's rejection of a draft is no failure of the bot; a draft waiting does not count yet.
    expect(successRate({ completed: 1, rejected: 3, awaiting_approval: 2 })).toBe(100);
  });

  it('a new status makes the type check fail at every switch that must handle it', () => {
    // `npm test` type-checks the project as it is first (tsc --noEmit): it has no errors.
    const original = fs.readFileSync(STATUS_FILE, 'utf8');
    const withNew = original.replace(
      "  running: { final: false, active: true, label: 'Running'",
      "  paused_by_user: { final: false, active: false, label: 'Paused', icon: 'P', level: 'info', success: null },\n  running: { final: false, active: true, label: 'Running'",
    );
    expect(withNew).not.toBe(original);
    const errors = typeCheckWith(withNew);
    console.log(`with a status 'paused_by_user' added, tsc reports:\n${errors.join('\n')}`);
    expect(errors.length).toBeGreaterThan(0);
    // Each is an exhaustiveness check (`assertNever`) that met the new status.
    for (const e of errors) expect(e).toMatch(/TS2345 Argument of type '"paused_by_user"' is not assignable to parameter of type 'never'/);
    expect(errors.some((e) => e.startsWith('src/engine/runner/transition.ts'))).toBe(true);
  }, 240_000);
});
