import { once } from 'node:events';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StreamSource } from '../local/event-sources.ts';
import { formatCost } from '../local/meter/cost.ts';
import { OfflinePipeline } from '../local/pipeline.ts';
import { fileReport } from '../local/report.ts';
import type { ExecutionEvent, ExecutionRecord } from '../local/stepfunctions.ts';

// Runs generated CSV files through the whole offline pipeline and reports throughput, stage times, peak
// memory, the largest Step Functions payload and the metered cost per million stored events. The shape
// of the workload is what a user asks about:
//   npm run bench -- --files 100 --rows-per-file 10000 --users 10000 --days 1   many small files
//   npm run bench -- --files 1 --rows-per-file 1000000 --users 10000 --days 1   one large file
//   npm run bench -- --files 1 --rows-per-file 1000000 --users 10000 --days 30  a month in one file
// Options: --concurrency N (environments per function, default 4), --no-drain (stop when the workflows
// end, without waiting for the stream consumer and inference: the cost is then incomplete), --json.
// Rows are spread over the users (user = row × 7919 mod users) and evenly over the days, files in time
// order (100 files of one day = one file every ~15 minutes). The emulator (moto, one Python process) is
// the bottleneck offline; AWS scales each stage out. Times compare changes to this code on one machine,
// not what the deployed pipeline does; counts and cost do not depend on the machine.

const { values } = parseArgs({
  allowNegative: true,
  options: {
    files: { type: 'string', default: '1' },
    'rows-per-file': { type: 'string' },
    rows: { type: 'string' },
    users: { type: 'string', default: '10000' },
    days: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
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

const generate = async (path: string, file: number): Promise<void> => {
  const out = createWriteStream(path);
  out.write('user_id,event_type,value,timestamp\n');
  const step = (days * 86_400_000) / totalRows;
  for (let i = 0; i < rowsPerFile; i += 1) {
    const row = file * rowsPerFile + i;
    const at = new Date(BASE + Math.floor(row * step)).toISOString();
    const line = `u${(row * 7919) % users},${TYPES[row % 4]},${((row % 1000) / 10).toFixed(1)},${at}\n`;
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
    const uploads = [];
    for (const path of paths) uploads.push(await pipeline.upload(path));
    const executions: ExecutionRecord[] = [];
    for (const [i, upload] of uploads.entries()) {
      executions.push(await pipeline.waitForExecution(upload.executionName, 6 * 3600_000));
      if (files > 1 && (i + 1) % 10 === 0) progress(`  ${i + 1}/${files} files finished`);
    }
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
    const moto = pipeline.emulatorPid();
    const statuses: Record<string, number> = {};
    for (const report of reports) statuses[report.status] = (statuses[report.status] ?? 0) + 1;
    const result = {
      shape: { files, rowsPerFile, users, days, totalRows, bytes },
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
      peakRssMiB: {
        runtimeAndFunctions: Math.round(peakRssMiB('self')),
        emulator: moto ? Math.round(peakRssMiB(moto)) : null,
      },
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
