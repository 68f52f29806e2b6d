import { once } from 'node:events';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import { TOTALS_SK, userPk } from '../functions/shared/keys.ts';
import { TotalsItemSchema } from '../functions/shared/model.ts';
import { StreamSource } from '../local/event-sources.ts';
import { formatCost } from '../local/meter/cost.ts';
import { OfflinePipeline } from '../local/pipeline.ts';
import { fileReport } from '../local/report.ts';
import { writeRunReport } from '../local/report-page.ts';
import type { ExecutionEvent, ExecutionRecord } from '../local/stepfunctions.ts';

// Runs generated CSV files through the whole offline pipeline and reports throughput, stage times, peak
// memory, the largest Step Functions payload and the metered cost per million stored events. The shape
// of the workload is what a user asks about:
//   npm run bench -- --files 100 --rows-per-file 10000 --users 10000 --days 1   many small files
//   npm run bench -- --files 1 --rows-per-file 1000000 --users 10000 --days 1   one large file
//   npm run bench -- --files 1 --rows-per-file 1000000 --users 10000 --days 30  a month in one file
// Options: --concurrency N (environments per function, default 10), --in-flight K (files uploaded ahead of
// the oldest unfinished one, default 4), --no-drain (stop when the workflows end, without waiting for the
// stream consumer and inference: the cost is then incomplete), --json.
// Rows are spread over the users (user = row × 7919 mod users) and evenly over the days, files in time
// order (100 files of one day = one file every ~15 minutes). Files are uploaded in that order, the next
// one when fewer than K are still running: a day brings its files one after another, and uploading all at
// once would only make them queue for the environments past their tasks' timeouts. The emulator (moto, one
// Python process) is the bottleneck offline; AWS scales each stage out. Times compare changes to this code
// on one machine, not what the deployed pipeline does; counts and cost do not depend on the machine.

const { values } = parseArgs({
  allowNegative: true,
  options: {
    files: { type: 'string', default: '1' },
    'rows-per-file': { type: 'string' },
    rows: { type: 'string' },
    users: { type: 'string', default: '10000' },
    days: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '10' },
    'in-flight': { type: 'string', default: '4' },
    drain: { type: 'boolean', default: true },
    json: { type: 'boolean', default: false },
  },
});
const files = Number(values.files);
const rowsPerFile = Number(values['rows-per-file'] ?? values.rows ?? 1_000_000);
const users = Number(values.users);
const days = Number(values.days);
const totalRows = files * rowsPerFile;
const root = fileURLToPath(new URL('../', import.meta.url));
const progress = (line: string) => process.stderr.write(`${line}\n`);

const TYPES = ['view', 'click', 'purchase', 'refund'];
const BASE = Date.UTC(2026, 10, 1);
/** What the generated files hold per user: the independent side of the exactness check. */
const expected = new Map<string, { count: number; total: number }>();

const generate = async (path: string, file: number): Promise<void> => {
  const out = createWriteStream(path);
  out.write('user_id,event_type,value,timestamp\n');
  const step = (days * 86_400_000) / totalRows;
  for (let i = 0; i < rowsPerFile; i += 1) {
    const row = file * rowsPerFile + i;
    const at = new Date(BASE + Math.floor(row * step)).toISOString();
    const userId = `u${(row * 7919) % users}`;
    const value = ((row % 1000) / 10).toFixed(1);
    const sum = expected.get(userId) ?? { count: 0, total: 0 };
    sum.count += 1;
    sum.total += Number(value);
    expected.set(userId, sum);
    const line = `${userId},${TYPES[row % 4]},${value},${at}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
};

/** Peak resident memory of a process, from /proc (VmHWM), in MiB. */
const peakRssMiB = (pid: number | 'self'): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
};

/**
 * Every user's TOTALS against what the generator wrote (count exact, value to float rounding), and the
 * daily aggregates the API serves summed over the days, for a sample of users.
 */
const checkTotals = async (pipeline: OfflinePipeline) => {
  let mismatched = 0;
  let checked = 0;
  const ids = [...expected.keys()];
  for (let start = 0; start < ids.length; start += 100) {
    const { Responses } = await pipeline.clients.ddb.send(
      new BatchGetCommand({
        RequestItems: {
          [pipeline.table]: {
            Keys: ids.slice(start, start + 100).map((id) => ({ PK: userPk(id), SK: TOTALS_SK })),
          },
        },
      }),
    );
    for (const raw of Responses?.[pipeline.table] ?? []) {
      const item = TotalsItemSchema.parse(raw);
      const want = expected.get(String(item.userId));
      checked += 1;
      if (
        !want ||
        item.event_count !== want.count ||
        Math.abs(item.total_value - want.total) > 1e-6 * Math.max(1, want.total)
      )
        mismatched += 1;
    }
  }
  let dailyMismatched = 0;
  const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 100)) === 0);
  const to = new Date(BASE + days * 86_400_000).toISOString().slice(0, 10);
  for (const id of sample) {
    const response = await fetch(`${pipeline.apiUrl}/users/${id}/aggregates?from=2026-11-01&to=${to}`);
    const body = (await response.json()) as { daily?: { event_count: number }[] };
    const count = (body.daily ?? []).reduce((sum, day) => sum + day.event_count, 0);
    if (count !== expected.get(id)?.count) dailyMismatched += 1;
  }
  return {
    users: ids.length,
    totalsChecked: checked,
    totalsMismatched: mismatched + (ids.length - checked),
    dailySampled: sample.length,
    dailyMismatched,
  };
};

const main = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'csv-bench-'));
  const paths: string[] = [];
  const genStart = Date.now();
  for (let file = 0; file < files; file += 1) {
    const path = join(dir, `bench-${String(file).padStart(4, '0')}.csv`);
    await generate(path, file);
    paths.push(path);
  }
  const bytes = paths.reduce((total, path) => total + statSync(path).size, 0);
  progress(
    `generated ${files} file(s) × ${rowsPerFile.toLocaleString()} rows, ${users.toLocaleString()} users, ${days} day(s) ` +
      `(${(bytes / 1e6).toFixed(1)} MB) in ${Date.now() - genStart} ms`,
  );

  // Seconds per state, summed over files; chunk progress of the largest file.
  const stages = new Map<string, number>();
  const current = new Map<string, { name: string; at: number }>();
  const onExecutionEvent = (event: ExecutionEvent) => {
    const { name } = event.execution;
    if (event.kind === 'state' || event.kind === 'finished') {
      const now = Date.now();
      const open = current.get(name);
      if (open) stages.set(open.name, (stages.get(open.name) ?? 0) + now - open.at);
      if (event.kind === 'state' && event.detail) current.set(name, { name: event.detail, at: now });
      else current.delete(name);
    }
    if (event.kind === 'map-progress' && files === 1 && event.execution.map.done % 10 === 0) {
      progress(`  ProcessRecords ${event.execution.map.done}/${event.execution.map.total} chunks`);
    }
  };

  const pipeline = await OfflinePipeline.start({
    root,
    stackName: 'bench',
    concurrency: Number(values.concurrency),
    onExecutionEvent,
    log: progress,
  });
  try {
    const started = Date.now();
    const inFlight = Math.max(1, Number(values['in-flight']));
    const uploads: Awaited<ReturnType<OfflinePipeline['upload']>>[] = [];
    const executions: ExecutionRecord[] = [];
    // Uploads finish in the order they were made: wait for the oldest one still running.
    const waitForOldest = async () => {
      const oldest = uploads[executions.length];
      if (oldest === undefined) return;
      executions.push(await pipeline.waitForExecution(oldest.executionName, 6 * 3600_000));
      if (files > 1 && executions.length % 10 === 0)
        progress(`  ${executions.length}/${files} files finished`);
    };
    for (const path of paths) {
      if (uploads.length - executions.length >= inFlight) await waitForOldest();
      uploads.push(await pipeline.upload(path));
    }
    while (executions.length < uploads.length) await waitForOldest();
    const workflowMs = Date.now() - started;
    const stream = pipeline.sources.find((source): source is StreamSource => source instanceof StreamSource);
    const streamAtWorkflowEnd = stream?.delivered ?? 0;
    if (values.drain) await pipeline.waitIdle(12 * 3600_000);
    const allMs = Date.now() - started;
    const reports = await Promise.all(
      uploads.map((upload, i) => fileReport(pipeline, upload, executions[i])),
    );
    const storedEvents = reports.reduce((total, report) => total + report.rows.stored, 0);
    const cost = await pipeline.cost(storedEvents);
    const reportPath = writeRunReport(root, 'bench', {
      title: `Benchmark: ${files} × ${rowsPerFile.toLocaleString('en-US')} rows, ${users.toLocaleString('en-US')} users, ${days} day(s)`,
      generatedAt: new Date(),
      wallMs: allMs,
      files: reports.map((report, i) => ({ report, execution: executions[i] })),
      cost,
      functions: pipeline.runtime.stats(),
    });
    progress(`run report: ${reportPath}`);
    const exactness = values.drain ? await checkTotals(pipeline) : null;
    const moto = pipeline.emulatorPid();
    const statuses: Record<string, number> = {};
    for (const report of reports) statuses[report.status] = (statuses[report.status] ?? 0) + 1;
    const result = {
      shape: { files, rowsPerFile, users, days, totalRows, bytes, inFlight },
      statuses,
      storedEvents,
      workflowSeconds: workflowMs / 1000,
      rowsPerSecondWorkflow: Math.round(totalRows / (workflowMs / 1000)),
      streamRecordsAggregatedDuringWorkflow: streamAtWorkflowEnd,
      drained: values.drain,
      ...(values.drain
        ? { endToEndSeconds: allMs / 1000, rowsPerSecondEndToEnd: Math.round(totalRows / (allMs / 1000)) }
        : {}),
      stageSeconds: Object.fromEntries([...stages].map(([name, ms]) => [name, ms / 1000])),
      chunks: executions.reduce((total, execution) => total + execution.map.total, 0),
      maxStatePayloadBytes: Math.max(...executions.map((execution) => execution.maxPayloadBytes)),
      exactness,
      peakRssMiB: {
        runtimeAndFunctions: Math.round(peakRssMiB('self')),
        emulator: moto ? Math.round(peakRssMiB(moto)) : null,
      },
      reportPath,
      cost: { ...cost.report, counts: cost.counts },
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const { cost: _cost, ...summary } = result;
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n\n${formatCost(cost.report)}\n`);
    }
  } finally {
    await pipeline.stop();
  }
};

await main();
