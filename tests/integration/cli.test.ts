import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from './support.ts';

// The product's main command, as a user runs it: `npm run local -- run FILES --json` prints one JSON
// document on stdout (progress goes to stderr) and exits 0 when every file reached a final state.

const runCli = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(projectRoot, 'local', 'cli.ts'), ...args], {
      cwd: projectRoot,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

describe('npm run local -- run … --json', () => {
  it('reports every sample file with its final status, row counts and the users running totals', async () => {
    const samples = ['clean.csv', 'bad-rows.csv', 'invalid-header.csv'].map((name) =>
      join(projectRoot, 'local', 'samples', name),
    );

    const { code, stdout, stderr } = await runCli(['run', ...samples, '--json']);

    expect(code, stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(stdout) as {
      files: {
        key: string;
        status: string;
        rows: { total: number; stored: number; rejected: number };
        executionArn: string;
      }[];
      users: Record<string, { event_count: number; total_value: number }>;
    };
    expect(report.files.map(({ key, status, rows }) => ({ key, status, rows }))).toEqual([
      { key: 'uploads/clean.csv', status: 'SUCCEEDED', rows: { total: 10, stored: 10, rejected: 0 } },
      { key: 'uploads/bad-rows.csv', status: 'SUCCEEDED', rows: { total: 50, stored: 46, rejected: 4 } },
      { key: 'uploads/invalid-header.csv', status: 'REJECTED', rows: { total: 0, stored: 0, rejected: 0 } },
    ]);
    expect(report.files.every((file) => file.executionArn.startsWith('arn:aws:states:'))).toBe(true);
    const storedRows = report.files.reduce((sum, file) => sum + file.rows.stored, 0);
    const countedEvents = Object.values(report.users).reduce((sum, user) => sum + user.event_count, 0);
    expect(countedEvents).toBe(storedRows);
    expect(report.users.alice).toEqual({ event_count: 8, total_value: 184 });
  });
});
