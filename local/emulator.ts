import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Endpoint } from './aws.ts';

/** A free loopback port, chosen by the OS. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const waitUntilUp = async (url: string, timeoutMs: number, child: ChildProcess): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/moto-api/reset-auth`, { method: 'GET' });
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`moto_server did not answer on ${url} within ${timeoutMs} ms`);
};

export interface Emulator {
  endpoint: Endpoint;
  /** The emulator's process id when this runtime started it. */
  pid?: number;
  stop(): Promise<void>;
}

/** How to start the emulator: with the launcher's fixes of moto (always, offline), or without them. */
export interface EmulatorSettings {
  /** `plain` is moto unchanged, only for the test that shows what the launcher fixes. */
  flavour?: 'fixed' | 'plain';
  /** Seconds between Python thread switches: small values provoke races (tests only). */
  switchIntervalSeconds?: number;
}
export type EmulatorFlavour = NonNullable<EmulatorSettings['flavour']>;

/**
 * Starts moto server (S3, EventBridge, SQS, SNS, DynamoDB + Streams in one process) from the project's
 * virtualenv on a free loopback port, through `local/emulator/moto_server.py`, which fixes moto's
 * DynamoDB stream where it departs from DynamoDB (see there). Run `scripts/setup.sh` first; it creates .venv.
 */
export const startEmulator = async (
  projectRoot: string,
  log: (line: string) => void,
  settings: EmulatorSettings = {},
): Promise<Emulator> => {
  const binary = join(projectRoot, '.venv', 'bin', 'python');
  if (!existsSync(binary)) {
    throw new Error(`${binary} not found: run scripts/setup.sh (creates .venv from requirements-dev.txt)`);
  }
  const launcher = join(projectRoot, 'local', 'emulator', 'moto_server.py');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(binary, [launcher, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      MOTO_ALLOW_NONEXISTENT_REGION: 'false',
      OFFLINE_MOTO_FIXES: settings.flavour === 'plain' ? 'off' : 'on',
      ...(settings.switchIntervalSeconds === undefined
        ? {}
        : { OFFLINE_PYTHON_SWITCH_INTERVAL: String(settings.switchIntervalSeconds) }),
    },
  });
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  try {
    await waitUntilUp(url, 30_000, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderrTail}`);
  }
  log(`emulator: moto server on ${url} (pid ${child.pid})`);
  return {
    endpoint: { url },
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
};

/** Attaches to an emulator someone else runs (`--endpoint`); stopping it is theirs to do. */
export const attachEmulator = (url: string): Emulator => ({ endpoint: { url }, stop: async () => undefined });

/**
 * A table keyed PK (hash) / SK (range) as template.yaml keys the real one, with a NEW_AND_OLD_IMAGES stream
 * unless `stream` is false: what the emulator's own tests and benchmarks write to.
 */
export const createKeyedTable = async (ddb: DynamoDBClient, name: string, stream = true): Promise<void> => {
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'PK', AttributeType: 'S' },
        { AttributeName: 'SK', AttributeType: 'S' },
      ],
      ...(stream
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
        : {}),
    }),
  );
};
