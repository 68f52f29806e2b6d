import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatIamSummary } from './iam/authorizer.ts';
import { formatCost } from './meter/cost.ts';
import { OfflinePipeline, type Uploaded } from './pipeline.ts';
import { RunProgress } from './progress.ts';
import {
  type FileReport,
  fileReport,
  formatReport,
  formatUserTotals,
  usersOf,
  userTotals,
} from './report.ts';
import { writeRunReport } from './report-page.ts';
import type { ExecutionEvent, ExecutionRecord } from './stepfunctions.ts';

const USAGE = `Offline CSV pipeline (no AWS, no Docker)

  npm run local -- run FILE.csv [FILE.csv…] [--json] [--timeout SECONDS] [--endpoint URL]
      Upload the files to uploads/, wait for their executions, print a summary per file.
  npm run local -- demo [--json]
      Run the sample files in local/samples/ (clean, with bad rows, invalid).
  npm run local -- redrive KEY [KEY…] --endpoint URL
      Rerun FAILED files (by upload key, e.g. uploads/big.csv) left in a running emulator: a new execution
      of the same object version; stored chunks and applied pages are skipped, counts end exact.
  npm run local -- up [--inbox DIR] [--api-port PORT] [--endpoint URL]
      Keep everything running; every .csv dropped into the inbox folder is uploaded and reported.

Options:
  --json          print one JSON document on stdout, progress on stderr
  --endpoint URL  use a running AWS-compatible emulator instead of starting moto
  --timeout S     seconds to wait for each file (default 900)
  --concurrency N execution environments per function (default 10, the Map's MaxConcurrency)
  --build         run sam build even if .aws-sam/build looks fresh
  --parameter-overrides NAME=VALUE   a template parameter for this run, as sam deploy takes it (repeatable;
                  e.g. ChunkRows=1000 AlertThreshold=50)
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    endpoint: { type: 'string' },
    timeout: { type: 'string', default: '900' },
    concurrency: { type: 'string', default: '10' },
    inbox: { type: 'string', default: 'inbox' },
    'api-port': { type: 'string', default: '3000' },
    build: { type: 'boolean', default: false },
    'parameter-overrides': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const [command, ...args] = positionals;

/** `NAME=VALUE` pairs, as `sam deploy --parameter-overrides` takes them. */
const parameterOverrides = (pairs: string[]): Record<string, string> =>
  Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--parameter-overrides ${pair}: expected NAME=VALUE`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
/** While files run, the progress line; event lines print through it so they never tear it. */
let tracker: RunProgress | undefined;
const progress = (line: string) => {
  if (tracker === undefined) process.stderr.write(`${line}\n`);
  else tracker.log(line);
};

let stopTracking = (): void => undefined;
/** Starts the progress line for `files` uploads, until stopTracking(). */
const trackProgress = (files: number): void => {
  tracker = new RunProgress({
    write: (text) => process.stderr.write(text),
    tty: process.stderr.isTTY === true,
  });
  tracker.expect(files);
  const timer = setInterval(() => tracker?.tick(), 1000);
  timer.unref();
  stopTracking = () => {
    clearInterval(timer);
    tracker?.stop();
    tracker = undefined;
  };
};

const onExecutionEvent = (labels: Map<string, string>) => (event: ExecutionEvent) => {
  const label = labels.get(event.execution.name) ?? event.execution.name;
  const { execution } = event;
  tracker?.onEvent(event);
  if (event.kind === 'state') progress(`[${label}] ${event.detail}`);
  else if (
    event.kind === 'map-progress' &&
    process.stderr.isTTY !== true &&
    (execution.map.done % 10 === 0 || execution.map.done === execution.map.total)
  ) {
    progress(`[${label}] ProcessRecords: ${execution.map.done}/${execution.map.total} chunks stored`);
  } else if (event.kind === 'retry') progress(`[${label}] ${event.detail}: retrying after an error`);
  else if (event.kind === 'finished') progress(`[${label}] execution ${execution.status}`);
};

const start = async (labels: Map<string, string>, apiPort: number) => {
  const pipeline = await OfflinePipeline.start({
    root,
    endpoint: values.endpoint,
    stackName: 'csv-analytics-local',
    parameters: parameterOverrides(values['parameter-overrides'] ?? []),
    concurrency: Number(values.concurrency),
    apiPort,
    build: values.build ? 'always' : 'auto',
    log: progress,
    onExecutionEvent: onExecutionEvent(labels),
  });
  const stop = async () => {
    progress('stopping…');
    await pipeline.stop();
    process.exit(130);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return pipeline;
};

const runFiles = async (files: string[], name = 'run'): Promise<number> => {
  for (const file of files) {
    if (!existsSync(file)) throw new Error(`${file}: no such file`);
  }
  const labels = new Map<string, string>();
  const pipeline = await start(labels, 0);
  try {
    const startedAt = Date.now();
    trackProgress(files.length);
    const uploads: Uploaded[] = [];
    for (const file of files) {
      const upload = await pipeline.upload(file);
      labels.set(upload.executionName, basename(file));
      progress(`[${basename(file)}] uploaded to s3://${pipeline.bucket}/${upload.key}`);
      uploads.push(upload);
    }
    return await summarise(pipeline, uploads, startedAt, name);
  } finally {
    stopTracking();
    await pipeline.stop();
  }
};

/** Reruns FAILED files left in an emulator that outlives one run (`--endpoint`). */
const redriveFiles = async (keys: string[]): Promise<number> => {
  if (values.endpoint === undefined) {
    throw new Error(
      'redrive needs --endpoint URL: the emulator a plain run starts ends with it, and the FAILED file with it (start one that stays, e.g. `.venv/bin/python local/emulator/moto_server.py -p 5000`, and pass it to run and redrive)',
    );
  }
  const labels = new Map<string, string>();
  const pipeline = await start(labels, 0);
  try {
    const startedAt = Date.now();
    trackProgress(keys.length);
    const uploads: Uploaded[] = [];
    for (const key of keys) {
      const upload = await pipeline.redrive(key);
      labels.set(upload.executionName, basename(key));
      progress(`[${basename(key)}] rerun as execution ${upload.executionName}`);
      uploads.push(upload);
    }
    return await summarise(pipeline, uploads, startedAt, 'redrive');
  } finally {
    stopTracking();
    await pipeline.stop();
  }
};

/** Waits for the uploads' executions and the stream consumers, then prints the summary (or --json). */
const summarise = async (
  pipeline: OfflinePipeline,
  uploads: Uploaded[],
  startedAt: number,
  name: string,
): Promise<number> => {
  const timeoutMs = Number(values.timeout) * 1000;
  const reports: FileReport[] = [];
  const executions: (ExecutionRecord | undefined)[] = [];
  const users = new Set<string>();
  for (const upload of uploads) {
    const execution = await pipeline
      .waitForExecution(upload.executionName, timeoutMs)
      .catch((error: Error) => {
        progress(`[${upload.key}] ${error.message}`);
        return undefined;
      });
    reports.push(await fileReport(pipeline, upload, execution));
    executions.push(execution);
    if (execution?.status === 'SUCCEEDED')
      for (const user of await usersOf(pipeline, execution)) users.add(user);
  }
  stopTracking();
  progress('waiting for stream aggregates and inference to catch up…');
  await pipeline.waitIdle(timeoutMs);
  // Priced before the summary reads totals back through the API: that read is this CLI's, not the pipeline's.
  const storedEvents = reports.reduce(
    (total, report) => total + (report.status === 'SUCCEEDED' ? report.rows.stored : 0),
    0,
  );
  const cost = await pipeline.cost(storedEvents);
  const reportPath = writeRunReport(root, name, {
    title: `Offline run: ${reports.length} file${reports.length === 1 ? '' : 's'}`,
    generatedAt: new Date(),
    wallMs: Date.now() - startedAt,
    files: reports.map((report, i) => ({ report, execution: executions[i] })),
    cost,
    functions: pipeline.runtime.stats(),
  });
  progress(`run report: ${reportPath}`);
  // The text summary shows ten users; only --json lists (and so reads) them all.
  const userIds = [...users].sort();
  const totals = await userTotals(pipeline.apiUrl, values.json ? userIds : userIds.slice(0, 10));

  const iam = pipeline.iam.summary();
  if (values.json) {
    const document = {
      files: reports,
      users: totals,
      cost: { ...cost.report, counts: cost.counts },
      iam,
      reportPath,
    };
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  } else {
    process.stdout.write(
      `\n${reports.map((report) => formatReport(report, pipeline.bucket)).join('\n\n')}\n`,
    );
    const shown = Object.entries(totals);
    if (shown.length > 0) {
      process.stdout.write(`\nrunning totals (GET ${pipeline.apiUrl}/users/{id}/aggregates):\n`);
      for (const [userId, total] of shown) process.stdout.write(`${formatUserTotals(userId, total)}\n`);
      if (userIds.length > shown.length) {
        process.stdout.write(`  … and ${userIds.length - shown.length} more users\n`);
      }
    }
    process.stdout.write(`\n${formatCost(cost.report)}\n`);
    process.stdout.write(`\n${formatIamSummary(iam)}\n`);
  }
  const final = reports.every((report) => report.status !== 'TIMED_OUT');
  return final ? 0 : 1;
};

const up = async (): Promise<void> => {
  const labels = new Map<string, string>();
  const pipeline = await start(labels, Number(values['api-port']));
  const inbox = resolve(values.inbox ?? 'inbox');
  const done = join(inbox, 'done');
  mkdirSync(done, { recursive: true });
  progress(`\nready. emulator ${pipeline.endpoint.url}, bucket ${pipeline.bucket}, table ${pipeline.table}`);
  progress(`API ${pipeline.apiUrl}  (e.g. curl ${pipeline.apiUrl}/users/alice/aggregates)`);
  progress(`drop .csv files into ${inbox}; Ctrl-C stops everything.`);
  for (;;) {
    for (const name of readdirSync(inbox).filter((entry) => entry.toLowerCase().endsWith('.csv'))) {
      const moved = join(done, name);
      renameSync(join(inbox, name), moved);
      const upload = await pipeline.upload(moved);
      labels.set(upload.executionName, name);
      void pipeline
        .waitForExecution(upload.executionName, Number(values.timeout) * 1000)
        .then(async (execution) =>
          progress(formatReport(await fileReport(pipeline, upload, execution), pipeline.bucket)),
        )
        .catch((error: Error) => progress(`[${name}] ${error.message}`));
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 1000));
  }
};

const main = async (): Promise<number> => {
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command === 'run') {
    if (args.length === 0) throw new Error('run needs at least one CSV file');
    return runFiles(args);
  }
  if (command === 'demo') {
    const samples = join(root, 'local', 'samples');
    return runFiles(
      ['clean.csv', 'bad-rows.csv', 'invalid-header.csv'].map((name) => join(samples, name)),
      'demo',
    );
  }
  if (command === 'redrive') {
    if (args.length === 0) throw new Error('redrive needs the upload key of at least one FAILED file');
    return redriveFiles(args);
  }
  if (command === 'up') {
    await up();
    return 0;
  }
  process.stderr.write(USAGE);
  return 2;
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
