import type { ExecutionEvent } from './stepfunctions.ts';

// Progress of a run at a glance, on stderr: files finished, rows validated, chunks stored of the total, rows
// stored per second, elapsed time and an estimate of what is left. On a terminal it is one line, redrawn in
// place (event lines print above it); otherwise a plain line every `everyMs`, so a log file stays readable.

interface FileProgress {
  validRows?: number;
  chunksDone: number;
  chunksTotal: number;
  finished: boolean;
}

export interface ProgressOptions {
  write: (text: string) => void;
  /** Whether stderr is a terminal: one updating line instead of periodic lines. */
  tty: boolean;
  /** How often a plain line is printed when not on a terminal. */
  everyMs?: number;
  now?: () => number;
}

const clock = (ms: number): string => {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(rest).padStart(2, '0')}s`
      : `${rest}s`;
};
const count = (n: number) => Math.round(n).toLocaleString('en-US');

export class RunProgress {
  private readonly files = new Map<string, FileProgress>();
  private readonly options: Required<ProgressOptions>;
  private readonly started: number;
  private lastPlain: number;
  private shown = false;
  private expected = 0;

  constructor(options: ProgressOptions) {
    this.options = { everyMs: 10_000, now: Date.now, ...options };
    this.started = this.options.now();
    this.lastPlain = this.started;
  }

  /** Files the run will upload, so "finished" has a denominator before every execution has started. */
  expect(files: number): void {
    this.expected = files;
  }

  onEvent(event: ExecutionEvent): void {
    const { name } = event.execution;
    const file = this.files.get(name) ?? { chunksDone: 0, chunksTotal: 0, finished: false };
    this.files.set(name, file);
    // ValidateData's result is in the input of every later state ($.validation).
    const validation = (event.input as { validation?: { validRows?: unknown } } | undefined)?.validation;
    if (typeof validation?.validRows === 'number') file.validRows = validation.validRows;
    file.chunksDone = event.execution.map.done;
    file.chunksTotal = event.execution.map.total;
    if (event.kind === 'finished') file.finished = true;
    this.tick();
  }

  /** The progress line as it stands. */
  line(): string {
    const files = [...this.files.values()];
    const validated = files.reduce((total, file) => total + (file.validRows ?? 0), 0);
    const done = files.reduce((total, file) => total + file.chunksDone, 0);
    const total = files.reduce((total, file) => total + file.chunksTotal, 0);
    // Rows stored so far, counting each file's chunks as equal shares of its valid rows.
    const stored = files.reduce(
      (sum, file) =>
        sum +
        (file.chunksTotal > 0 && file.validRows !== undefined
          ? (file.validRows * file.chunksDone) / file.chunksTotal
          : 0),
      0,
    );
    const elapsed = this.options.now() - this.started;
    const finished = files.filter((file) => file.finished).length;
    const parts = [
      `${finished}/${Math.max(this.expected, files.length)} files`,
      `${count(validated)} rows validated`,
      `${count(done)}/${count(total)} chunks stored`,
      `${count(stored / Math.max(0.001, elapsed / 1000))} rows/s`,
      `${clock(elapsed)} elapsed`,
    ];
    if (done > 0 && done < total) parts.push(`~${clock(((total - done) * elapsed) / done)} left`);
    return parts.join(' · ');
  }

  /** Prints an event line; on a terminal the progress line is redrawn under it. */
  log(text: string): void {
    if (this.options.tty && this.shown) this.options.write('\r\x1b[2K');
    this.options.write(`${text}\n`);
    this.shown = false;
    if (this.options.tty) this.tick();
  }

  tick(): void {
    if (this.options.tty) {
      this.options.write(`\r\x1b[2K${this.line()}`);
      this.shown = true;
      return;
    }
    const now = this.options.now();
    if (now - this.lastPlain < this.options.everyMs) return;
    this.lastPlain = now;
    this.options.write(`progress: ${this.line()}\n`);
  }

  /** Ends the updating line (the terminal keeps the last state of it). */
  stop(): void {
    if (this.options.tty && this.shown) this.options.write('\n');
    this.shown = false;
  }
}
