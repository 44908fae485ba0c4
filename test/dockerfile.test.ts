import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The Dockerfile's instructions, `\`-continued lines joined, comments dropped: `[keyword, arguments]`. */
function instructions(file: string): [string, string][] {
  return fs
    .readFileSync(file, 'utf8')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [kw, ...rest] = l.split(/\s+/);
      return [kw!.toUpperCase(), rest.join(' ')];
    });
}

// docker may be absent here: what the image will be is read from the Dockerfile. On a built image,
// `docker run --rm openorchestrator id -u` prints 1000 (see the README, "Docker").
describe('the Docker image', () => {
  const steps = instructions('Dockerfile');
  const cmd = steps.findIndex(([kw]) => kw === 'CMD');
  const users = steps.map(([kw, arg], i) => ({ kw, arg, i })).filter((s) => s.kw === 'USER');

  it('runs the app as an unprivileged user, not root', () => {
    expect(cmd).toBeGreaterThan(0);
    const user = users.filter((u) => u.i < cmd).at(-1);
    expect(user?.arg).toBe('node');
    expect(user!.arg.split(':')[0]).not.toMatch(/^(root|0)$/);
    // Nothing after it switches back.
    expect(users.filter((u) => u.i > user!.i)).toEqual([]);
  });

  it('owns its data volume and has bubblewrap for run_code', () => {
    const runs = steps.filter(([kw]) => kw === 'RUN').map(([, arg]) => arg);
    expect(runs.some((r) => /apt-get install\b.*\bbubblewrap\b/.test(r))).toBe(true);
    expect(runs).toContain('mkdir -p /data && chown node:node /data');
  });
});
