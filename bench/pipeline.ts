import { once } from 'node:events';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StreamSource } from '../local/event-sources.ts';
import { OfflinePipeline } from '../local/pipeline.ts';
import type { ExecutionEvent } from '../local/stepfunctions.ts';

// Runs one large generated CSV through the whole offline pipeline and reports throughput, stage times,
// peak memory and the largest Step Functions payload. Usage:
//   npm run bench -- [--rows 1000000] [--users 10000] [--concurrency 4] [--drain]
// Without --drain it stops when the workflow has finished and reports how far the stream consumer got
// (offline it runs on the same single-process emulator, at roughly 300 user updates a second).
// The emulator (moto, one Python process) is the bottleneck offline; AWS scales each stage out. The
// numbers compare changes to this code on one machine, not what the deployed pipeline does.

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    users: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '4' },
    drain: { type: 'boolean', default: false },
  },
});
const rows = Number(values.rows);
const users = Number(values.users);
const root = fileURLToPath(new URL('../', import.meta.url));

const generate = async (path: string): Promise<void> => {
  const out = createWriteStream(path);
  out.write('user_id,event_type,value,timestamp\n');
  const types = ['view', 'click', 'purchase', 'refund'];
  // One day of events, as a daily export would be: the file's user-days are about its users.
  const base = Date.UTC(2026, 10, 1);
  const step = 86_400_000 / rows;
  for (let i = 0; i < rows; i += 1) {
    const at = new Date(base + Math.floor(i * step)).toISOString();
    const line = `u${(i * 7919) % users},${types[i % 4]},${((i % 1000) / 10).toFixed(1)},${at}\n`;
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
  const file = join(dir, `bench-${rows}.csv`);
  const genStart = Date.now();
  await generate(file);
  const bytes = statSync(file).size;
  console.error(
    `generated ${rows.toLocaleString()} rows (${(bytes / 1e6).toFixed(1)} MB) in ${Date.now() - genStart} ms`,
  );

  const stages = new Map<string, number>();
  let current: { name: string; at: number } | undefined;
  const onExecutionEvent = (event: ExecutionEvent) => {
    if (event.kind === 'state' || event.kind === 'finished') {
      const now = Date.now();
      if (current) stages.set(current.name, (stages.get(current.name) ?? 0) + now - current.at);
      current = event.kind === 'state' && event.detail ? { name: event.detail, at: now } : undefined;
    }
    if (event.kind === 'map-progress' && event.execution.map.done % 10 === 0) {
      console.error(`  ProcessRecords ${event.execution.map.done}/${event.execution.map.total} chunks`);
    }
  };

  const pipeline = await OfflinePipeline.start({
    root,
    stackName: 'bench',
    concurrency: Number(values.concurrency),
    onExecutionEvent,
    log: (line) => console.error(line),
  });
  try {
    const started = Date.now();
    const upload = await pipeline.upload(file);
    const execution = await pipeline.waitForExecution(upload.executionName, 3 * 3600_000);
    const workflowMs = Date.now() - started;
    const stream = pipeline.sources.find((source): source is StreamSource => source instanceof StreamSource);
    const streamAtWorkflowEnd = stream?.delivered ?? 0;
    if (values.drain) await pipeline.waitIdle(6 * 3600_000);
    const allMs = Date.now() - started;
    const moto = pipeline.emulatorPid();
    const result = {
      rows,
      users,
      bytes,
      status: execution.status,
      workflowSeconds: workflowMs / 1000,
      rowsPerSecondWorkflow: Math.round(rows / (workflowMs / 1000)),
      streamRecordsAggregatedDuringWorkflow: streamAtWorkflowEnd,
      ...(values.drain
        ? {
            withStreamAndInferenceSeconds: allMs / 1000,
            rowsPerSecondEndToEnd: Math.round(rows / (allMs / 1000)),
          }
        : {}),
      stageSeconds: Object.fromEntries([...stages].map(([name, ms]) => [name, ms / 1000])),
      chunks: execution.map.total,
      maxStatePayloadBytes: execution.maxPayloadBytes,
      peakRssMiB: {
        runtimeAndFunctions: Math.round(peakRssMiB('self')),
        emulator: moto ? Math.round(peakRssMiB(moto)) : null,
      },
      lambda: pipeline.runtime.stats(),
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await pipeline.stop();
  }
};

await main();
