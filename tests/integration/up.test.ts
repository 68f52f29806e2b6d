import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csv, HEADER, projectRoot, userRows } from './support.ts';

// `npm run local -- up`: everything keeps running, a CSV dropped into the inbox is uploaded and processed,
// and its user's running totals can be read through the API, as the README tells a user to do.

let up: ChildProcess;
let stderr = '';
let apiUrl: string;
const inbox = mkdtempSync(join(tmpdir(), 'inbox-'));

const waitFor = async <T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; up said:\n${stderr.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
};

beforeAll(async () => {
  up = spawn(process.execPath, ['local/cli.ts', 'up', '--inbox', inbox, '--api-port', '0'], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  up.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  apiUrl = await waitFor(
    'the API address',
    async () => /\nAPI (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1],
    120_000,
  );
});

afterAll(async () => {
  if (up.exitCode === null) {
    const exited = new Promise((resolve) => up.once('exit', resolve));
    up.kill('SIGTERM');
    await exited;
  }
});

describe('npm run local -- up', () => {
  it("processes a CSV dropped into the inbox and serves its users' totals through the API", async () => {
    writeFileSync(
      join(inbox, 'dropped.csv'),
      csv(HEADER, [...userRows('inbox-ada', 7), ...userRows('inbox-bob', 3)]),
    );

    // Each user's page is applied by its own lane, in parallel: wait until both are in.
    const totalsOf = async (userId: string) => {
      const response = await fetch(`${apiUrl}/users/${userId}/aggregates`);
      if (!response.ok) return undefined;
      return ((await response.json()) as { totals?: { event_count?: number; total_value?: number } | null })
        .totals;
    };
    const [ada, bob] = await waitFor(
      'the totals of both users',
      async () => {
        const both = await Promise.all([totalsOf('inbox-ada'), totalsOf('inbox-bob')]);
        return both[0]?.event_count === 7 && both[1]?.event_count === 3 ? both : undefined;
      },
      180_000,
    );

    expect(ada).toMatchObject({ event_count: 7, total_value: 28 });
    expect(bob).toMatchObject({ event_count: 3, total_value: 6 });
    expect(existsSync(join(inbox, 'dropped.csv'))).toBe(false);
    expect(existsSync(join(inbox, 'done', 'dropped.csv'))).toBe(true);
    await waitFor(
      'the summary line',
      async () => (/uploads\/dropped\.csv {2}SUCCEEDED/.test(stderr) ? true : undefined),
      30_000,
    );
    expect(stderr).toMatch(/uploads\/dropped\.csv {2}SUCCEEDED {2}10 rows: 10 stored, 0 rejected/);
  });

  it('stops everything on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    up.kill('SIGTERM');
    expect(await exited).toBe(130);
  });
});
