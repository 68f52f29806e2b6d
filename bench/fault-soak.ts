import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AWS_ERROR_STORM, KILL_PLACES, streamOf } from '../local/chaos.ts';
import { Ledger, type Row, rowsFor, subscribeQueue, withBadRows } from '../local/ledger.ts';
import { OfflinePipeline, type Uploaded } from '../local/pipeline.ts';
import { fileReport } from '../local/report.ts';

// Keeps the offline pipeline under faults for many rounds and checks exactness after every one: what
// tests/integration/faults.test.ts samples once per CI run from one seed, drawn here from a new seed each
// round (--seed S, round r uses S + r), against one pipeline whose table keeps growing.
//   npm run bench:soak -- --rounds N [--seed S] [--files-per-round F] [--users U] [--rows R] [--json]
// Each round uploads F files of about R good rows (a bad row after every 13th) for overlapping windows of
// the U users, then meets: the suite's storm of AWS errors and UnprocessedItems at the emulator boundary,
// two environments killed mid-call at the proxy and, unless --no-runtime-kills, at most one ProcessRecords
// and one StoreResults invocation killed by the runtime, with deliveries repeated and reordered. Once the files are
// done and the stream drained, faults are cleared and the round is exact when every file SUCCEEDED with
// total = stored + rejected as written, and every user so far agrees with the Ledger (stored events,
// TOTALS, daily aggregates, one alert per crossing). The first inexact round ends the soak with exit code 1
// and the seed that replays it.

const { values } = parseArgs({
  allowNegative: true,
  options: {
    rounds: { type: 'string', default: '10' },
    seed: { type: 'string', default: '20261202' },
    'files-per-round': { type: 'string', default: '3' },
    users: { type: 'string', default: '10' },
    rows: { type: 'string', default: '100' },
    'runtime-kills': { type: 'boolean', default: true },
    json: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const baseSeed = Number(values.seed);
const filesPerRound = Number(values['files-per-round']);
const userCount = Number(values.users);
const rowsPerFile = Number(values.rows);
for (const [name, value, least] of [
  ['rounds', rounds, 1],
  ['seed', baseSeed, 0],
  ['files-per-round', filesPerRound, 1],
  ['users', userCount, 1],
  ['rows', rowsPerFile, 1],
] as const) {
  if (!Number.isInteger(value) || value < least) throw new Error(`--${name} must be an integer ≥ ${least}`);
}
const root = fileURLToPath(new URL('../', import.meta.url));
const progress = (line: string) => process.stderr.write(`${line}\n`);
/** Round lines go to stdout, or to stderr when stdout is the JSON summary. */
const say = (line: string) => (values.json ? progress(line) : process.stdout.write(`${line}\n`));

// As the fault suite: alerts at every multiple of a small threshold, chunks of 40 rows so a file has several
// chunks and its users spread over several lanes.
const THRESHOLD = 10;
const BAD_EVERY = 13;
const KILLED = { errorType: 'Runtime.ExitError', errorMessage: 'Runtime exited with error: signal: killed' };

/** How many of the kill places (local/chaos.ts, KILL_PLACES) a round draws. */
const KILLS_PER_ROUND = 2;

const users = Array.from({ length: userCount }, (_, i) => `soak-${i}`);

/** A window of about 70% of the users from a drawn start, wrapping: files of a round overlap. */
const windowOf = (random: () => number): string[] => {
  const size = Math.max(1, Math.ceil(userCount * 0.7));
  const start = Math.floor(random() * userCount);
  return Array.from({ length: size }, (_, i) => users[(start + i) % userCount] as string);
};

interface Sent {
  key: string;
  good: Row[];
  bad: number;
  upload: Uploaded;
}

interface RoundFigures {
  errors: number;
  unprocessedItems: number;
  kills: number;
  runtimeKills: number;
  duplicateDeliveries: number;
  duplicateRecords: number;
  reorderedBatches: number;
  repeatedAlerts: number;
}

interface RoundResult {
  round: number;
  seed: number;
  files: number;
  rows: { in: number; stored: number; rejected: number };
  usersChecked: number;
  figures: RoundFigures;
  workflowSeconds: number;
  seconds: number;
  problems: string[];
}

/** Turns on this round's faults, all drawn from its seed; returns the runtime kills' counter. */
const unleash = (pipeline: OfflinePipeline, seed: number) => {
  pipeline.seedAwsFaults(seed);
  // Kills first: a fault's `after` counts only the calls that reach it in the list.
  const pick = streamOf(seed, 'soak/kill-places');
  const places = [...KILL_PLACES];
  for (let i = 0; i < KILLS_PER_ROUND; i += 1) {
    const [place] = places.splice(Math.floor(pick() * places.length), 1);
    if (place === undefined) break;
    const { service, operation, functionId, kill, calls } = place;
    const after = Math.floor(streamOf(seed, `soak/${functionId}/${operation}`)() * calls);
    pipeline.injectAwsFault({ service, operation, principal: `fn.${functionId}`, after, times: 1, kill });
  }
  for (const fault of AWS_ERROR_STORM) pipeline.injectAwsFault(fault);
  pipeline.disturbDeliveries({ seed, duplicateRate: 0.3, duplicateRecordRate: 0.5, reorder: true });
  const killed = { count: 0 };
  if (values['runtime-kills']) {
    for (const functionId of ['ProcessRecordsFunction', 'StoreResultsFunction']) {
      const random = streamOf(seed, `soak/runtime/${functionId}`);
      const phase = random() < 0.5 ? 'before' : 'after';
      pipeline.runtime.injectFault({
        functionId,
        phase,
        times: 1,
        ...KILLED,
        // Counted here: a rule whose `when` holds is the one the runtime takes.
        when: () => {
          const hit = random() < 0.3;
          if (hit) killed.count += 1;
          return hit;
        },
      });
    }
  }
  return killed;
};

const calm = (pipeline: OfflinePipeline) => {
  pipeline.clearAwsFaults();
  pipeline.runtime.clearFaults();
  pipeline.disturbDeliveries(undefined);
};

const runRound = async (pipeline: OfflinePipeline, ledger: Ledger, round: number): Promise<RoundResult> => {
  const seed = baseSeed + round;
  const started = Date.now();
  const before = { ...pipeline.faultFigures(), repeatedAlerts: ledger.repeatedAlerts() };
  const draw = streamOf(seed, 'soak/files');
  const files: Sent[] = await Promise.all(
    Array.from({ length: filesPerRound }, async (_, f) => {
      const group = windowOf(draw);
      const days = 1 + Math.floor(draw() * 3);
      const good = rowsFor(group, Math.max(1, Math.round(rowsPerFile / group.length)), days);
      const { body, bad } = withBadRows(good, BAD_EVERY);
      const key = `uploads/soak/s${seed}-f${f}.csv`;
      return { key, good, bad, upload: await pipeline.upload(key, { key, body }) };
    }),
  );
  // As in the suite, the faults start once the uploads are in: they meet the pipeline, not the bench.
  const killed = unleash(pipeline, seed);
  const problems: string[] = [];
  let workflowSeconds = 0;
  try {
    const executions = await Promise.all(
      files.map((file) => pipeline.waitForExecution(file.upload.executionName, 600_000)),
    );
    workflowSeconds = (Date.now() - started) / 1000;
    await pipeline.waitIdle(600_000);
    calm(pipeline);
    for (const [i, file] of files.entries()) {
      const report = await fileReport(pipeline, file.upload, executions[i]);
      const want = { total: file.good.length + file.bad, stored: file.good.length, rejected: file.bad };
      if (report.status !== 'SUCCEEDED')
        problems.push(`${file.key}: ${report.status} ${report.reason ?? ''}`);
      else if (JSON.stringify(report.rows) !== JSON.stringify(want))
        problems.push(`${file.key}: rows ${JSON.stringify(report.rows)}, expected ${JSON.stringify(want)}`);
    }
  } catch (error) {
    calm(pipeline);
    problems.push((error as Error).message);
  }
  // Every good row is expected stored whatever happened: a failed file then shows in the users it touched.
  for (const file of files) ledger.record(file.good);
  const checked = ledger.recordedUsers();
  try {
    for (const d of await ledger.discrepancies(checked))
      problems.push(
        `${d.userId}: ${d.what}: expected ${JSON.stringify(d.expected)}, found ${JSON.stringify(d.found)}`,
      );
  } catch (error) {
    problems.push(`the ledger check did not finish: ${(error as Error).message}`);
  }

  const after = { ...pipeline.faultFigures(), repeatedAlerts: ledger.repeatedAlerts() };
  const delta = (name: Exclude<keyof RoundFigures, 'runtimeKills'>) => after[name] - before[name];
  const sum = (pick: (file: Sent) => number) => files.reduce((total, file) => total + pick(file), 0);
  return {
    round,
    seed,
    files: files.length,
    rows: {
      in: sum((file) => file.good.length + file.bad),
      stored: sum((file) => file.good.length),
      rejected: sum((file) => file.bad),
    },
    usersChecked: checked.length,
    figures: {
      errors: delta('errors'),
      unprocessedItems: delta('unprocessedItems'),
      kills: delta('kills'),
      runtimeKills: killed.count,
      duplicateDeliveries: delta('duplicateDeliveries'),
      duplicateRecords: delta('duplicateRecords'),
      reorderedBatches: delta('reorderedBatches'),
      repeatedAlerts: delta('repeatedAlerts'),
    },
    workflowSeconds,
    seconds: (Date.now() - started) / 1000,
    problems,
  };
};

const lineOf = (r: RoundResult): string => {
  const f = r.figures;
  return (
    `round ${r.round + 1}/${rounds} seed ${r.seed}: ${r.files} files, rows in ${r.rows.in} = stored ${r.rows.stored} + ` +
    `rejected ${r.rows.rejected}; ${f.errors} errors, ${f.unprocessedItems} items unprocessed, ` +
    `${f.kills} + ${f.runtimeKills} environments killed (proxy + runtime), ${f.duplicateDeliveries} duplicate ` +
    `deliveries, ${f.duplicateRecords} duplicate stream records, ${f.reorderedBatches} reordered batches, ` +
    `${f.repeatedAlerts} repeated alerts; ${r.usersChecked} users ${r.problems.length === 0 ? 'exact' : 'INEXACT'}; ` +
    `${r.seconds.toFixed(1)} s (workflows ${r.workflowSeconds.toFixed(1)} s)`
  );
};

const main = async (): Promise<number> => {
  const started = Date.now();
  const pipeline = await OfflinePipeline.start({
    root,
    stackName: 'soak',
    parameters: { AlertThreshold: String(THRESHOLD), AlertEveryMultiple: 'true', ChunkRows: '40' },
    log: progress,
  });
  const results: RoundResult[] = [];
  try {
    const ledger = new Ledger(
      pipeline,
      await subscribeQueue(pipeline, 'AlertsTopic', 'soak-alerts'),
      THRESHOLD,
    );
    for (let round = 0; round < rounds; round += 1) {
      const result = await runRound(pipeline, ledger, round);
      results.push(result);
      say(lineOf(result));
      if (result.problems.length > 0) {
        for (const problem of result.problems.slice(0, 20)) say(`  ${problem}`);
        if (result.problems.length > 20) say(`  … ${result.problems.length - 20} more`);
        say(
          `inexact at round ${round + 1}, seed ${result.seed}: replay with npm run bench:soak -- --seed ${baseSeed} ` +
            `--rounds ${round + 1} --files-per-round ${filesPerRound} --users ${userCount} --rows ${rowsPerFile}` +
            `${values['runtime-kills'] ? '' : ' --no-runtime-kills'}`,
        );
        break;
      }
    }
  } finally {
    await pipeline.stop();
  }
  const total = <K extends keyof RoundFigures>(name: K) =>
    results.reduce((sum, result) => sum + result.figures[name], 0);
  const failed = results.find((result) => result.problems.length > 0);
  const summary = {
    options: {
      rounds,
      seed: baseSeed,
      filesPerRound,
      users: userCount,
      rows: rowsPerFile,
      runtimeKills: values['runtime-kills'],
    },
    roundsRun: results.length,
    exact: failed === undefined,
    ...(failed
      ? { inexactRound: failed.round + 1, inexactSeed: failed.seed, problems: failed.problems }
      : {}),
    files: results.reduce((sum, result) => sum + result.files, 0),
    rows: {
      in: results.reduce((sum, result) => sum + result.rows.in, 0),
      stored: results.reduce((sum, result) => sum + result.rows.stored, 0),
      rejected: results.reduce((sum, result) => sum + result.rows.rejected, 0),
    },
    figures: {
      errors: total('errors'),
      unprocessedItems: total('unprocessedItems'),
      kills: total('kills'),
      runtimeKills: total('runtimeKills'),
      duplicateDeliveries: total('duplicateDeliveries'),
      duplicateRecords: total('duplicateRecords'),
      reorderedBatches: total('reorderedBatches'),
      repeatedAlerts: total('repeatedAlerts'),
    },
    seconds: (Date.now() - started) / 1000,
    roundSeconds: results.map((result) => Number(result.seconds.toFixed(1))),
    cpus: cpus().length,
    rounds: results,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const f = summary.figures;
    say(
      `${summary.exact ? 'exact' : 'INEXACT'}: ${summary.roundsRun} of ${rounds} rounds (seeds ${baseSeed}…${baseSeed + summary.roundsRun - 1}), ` +
        `${summary.files} files, rows in ${summary.rows.in} = stored ${summary.rows.stored} + rejected ${summary.rows.rejected}; ` +
        `${f.errors} errors, ${f.unprocessedItems} items unprocessed, ${f.kills} + ${f.runtimeKills} environments killed, ` +
        `${f.duplicateDeliveries} duplicate deliveries, ${f.duplicateRecords} duplicate stream records, ` +
        `${f.reorderedBatches} reordered batches, ${f.repeatedAlerts} repeated alerts; ${summary.seconds.toFixed(1)} s ` +
        `on ${summary.cpus} cores`,
    );
  }
  return summary.exact ? 0 : 1;
};

process.exitCode = await main();
