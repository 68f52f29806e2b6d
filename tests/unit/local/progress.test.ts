import { describe, expect, it } from 'vitest';
import { RunProgress } from '../../../local/progress.ts';
import type { ExecutionEvent, ExecutionRecord } from '../../../local/stepfunctions.ts';

// The progress line: what it says, how it is drawn on a terminal, and how often it is printed elsewhere.

const execution = (name: string, done: number, total: number): ExecutionRecord =>
  ({ name, map: { done, total } }) as ExecutionRecord;

const event = (
  name: string,
  done: number,
  total: number,
  kind: ExecutionEvent['kind'] = 'map-progress',
  input?: unknown,
): ExecutionEvent => ({
  execution: execution(name, done, total),
  kind,
  ...(input === undefined ? {} : { input }),
});

/** Carriage return, then erase the line: how the line is redrawn in place. */
const REDRAW = '\r\x1b[2K';

const harness = (tty: boolean) => {
  let now = 0;
  const written: string[] = [];
  const progress = new RunProgress({
    write: (text) => written.push(text),
    tty,
    everyMs: 10_000,
    now: () => now,
  });
  return { progress, written, advance: (ms: number) => (now += ms) };
};

describe('the progress line', () => {
  it('says files finished, rows validated, chunks stored, rows/s, elapsed and what is left', () => {
    const { progress, advance } = harness(false);
    progress.expect(2);
    progress.onEvent(event('a', 0, 0, 'state', { validation: { validRows: 100_000 } }));
    advance(20_000);
    progress.onEvent(event('a', 4, 10));

    // 4 of 10 chunks of 100,000 rows in 20 s: 40,000 rows, 2,000 rows/s; 6 chunks left at 5 s each.
    expect(progress.line()).toBe(
      '0/2 files · 100,000 rows validated · 4/10 chunks stored · 2,000 rows/s · 20s elapsed · ~30s left',
    );
    progress.onEvent(event('a', 10, 10, 'finished'));
    expect(progress.line()).toMatch(/^1\/2 files · .* 10\/10 chunks stored · 5,000 rows\/s · 20s elapsed$/);
  });

  it('redraws one line on a terminal and prints event lines above it', () => {
    const { progress, written } = harness(true);
    progress.tick();
    progress.log('[a.csv] ValidateData');

    expect(written[0]?.startsWith(`${REDRAW}0/0 files`)).toBe(true);
    expect(written.slice(1, 3)).toEqual([REDRAW, '[a.csv] ValidateData\n']);
    expect(written[3]?.startsWith(`${REDRAW}0/0 files`)).toBe(true);
    progress.stop();
    expect(written.at(-1)).toBe('\n');
    expect(written.join('')).not.toMatch(/progress:/);
  });

  it('prints a plain line at most every interval when not on a terminal', () => {
    const { progress, written, advance } = harness(false);
    progress.tick();
    advance(9_000);
    progress.tick();
    expect(written).toEqual([]);
    advance(1_000);
    progress.tick();
    progress.tick();

    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^progress: 0\/0 files · .* 10s elapsed\n$/);
    expect(written[0]).not.toContain('\x1b');
  });
});
