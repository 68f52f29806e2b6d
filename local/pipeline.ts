import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, type _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { executionNameOf, FILE_METADATA_SK, fileIdOf, filePk } from '../functions/shared/keys.ts';
import { FileMetadataSchema, fileRefOf } from '../functions/shared/model.ts';
import { LocalApi } from './api.ts';
import { clientConfig, DUMMY_CREDENTIALS, type Endpoint, REGION } from './aws.ts';
import { buildDirOf, builtTemplateOf, ensureBuild } from './build.ts';
import { type DeliveryChaos, DeliveryChaosControl, type DeliveryFigures } from './chaos.ts';
import {
  apiOf,
  type Build,
  deploymentsOf,
  type EventSourceSpec,
  eventSourcesOf,
  type StateMachineSpec,
  stateMachineOf,
} from './deployment.ts';
import { attachEmulator, type Emulator, freePort, startEmulator } from './emulator.ts';
import {
  AsyncInvokeSource,
  type EventSource,
  readStreamRecords,
  type SourceContext,
  SqsSource,
  StreamSource,
} from './event-sources.ts';
import { IamAuthorizer } from './iam/authorizer.ts';
import { translateTemplate } from './iam/roles.ts';
import { type FunctionDeployment, LambdaRuntime } from './lambda/runtime.ts';
import { type CostReport, priceSnapshot } from './meter/cost.ts';
import { Meter, type MeterSnapshot } from './meter/meter.ts';
import { type FaultFigures, MeteringProxy, type ProxyFault } from './meter/proxy.ts';
import { type Provisioned, provision, resolverContextOf } from './provision.ts';
import { type ExecutionEvent, type ExecutionRecord, LocalStepFunctions } from './stepfunctions.ts';
import { loadTemplate, type Template } from './template.ts';

export interface OfflineOptions {
  root: string;
  /** Attach to a running emulator instead of starting one. */
  endpoint?: string;
  stackName?: string;
  parameters?: Record<string, string>;
  /** Execution environments per function. */
  concurrency?: number;
  /** 0 picks a free port. */
  apiPort?: number;
  build?: 'auto' | 'always' | 'never';
  retryDelaySeconds?: number;
  log?: (line: string) => void;
  onExecutionEvent?: (event: ExecutionEvent) => void;
  /** Changes the SAM translation before its roles are enforced: how a test shows a missing grant denied. */
  editTranslation?: (translated: Template) => Template;
}

export interface Uploaded {
  key: string;
  etag: string;
  fileId: string;
  executionName: string;
}

const clientsOf = (endpoint: Endpoint): OfflinePipeline['clients'] => {
  const config = clientConfig(endpoint);
  return {
    s3: new S3Client({ ...config, forcePathStyle: true }),
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient(config)),
    sqs: new SQSClient(config),
    sns: new SNSClient(config),
  };
};

/** The roles SAM's transform writes for the template, enforced on every call the run makes. */
const authorizerOf = (options: OfflineOptions, provisioned: Provisioned, stateMachineId: string) => {
  const translated = translateTemplate(options.root, join(options.root, 'template.yaml'), {
    region: REGION,
    parameters: options.parameters,
  });
  return IamAuthorizer.fromTranslation(
    options.editTranslation ? options.editTranslation(translated) : translated,
    resolverContextOf(provisioned, options.parameters),
    provisioned.stackName,
    stateMachineId,
  );
};

const lambdaRuntimeOf = (
  deployments: FunctionDeployment[],
  options: { root: string; concurrency?: number; meter: Meter; endpoint: Endpoint },
): LambdaRuntime =>
  new LambdaRuntime(deployments, {
    logDir: join(options.root, '.local', 'logs'),
    // As many as the ProcessRecords Map runs at once: a chunk never waits for an environment while its
    // Task timeout runs, which Lambda, scaling out, would not make it do.
    concurrency: options.concurrency ?? 10,
    hooks: {
      onInvocation: (record) => options.meter.invocation(record),
      onLog: (functionId, chunk) => options.meter.log(functionId, chunk),
    },
    baseEnvironment: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TZ: 'UTC',
      LANG: 'en_US.UTF-8',
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL: options.endpoint.url,
      // No X-Ray daemon offline; everything else Powertools does runs as deployed.
      POWERTOOLS_TRACE_ENABLED: 'false',
    },
  });

/** The state machine of the template, run by the local engine, invoking functions and SNS as its role. */
const stepFunctionsOf = (
  machine: StateMachineSpec,
  parts: {
    root: string;
    provisioned: Provisioned;
    runtime: LambdaRuntime;
    deployments: FunctionDeployment[];
    iam: IamAuthorizer;
    endpoint: Endpoint;
    onEvent?: (event: ExecutionEvent) => void;
  },
): LocalStepFunctions =>
  new LocalStepFunctions({
    stateMachineArn: parts.provisioned.ref(machine.logicalId),
    definitionPath: join(parts.root, machine.definitionUri),
    substitutions: machine.substitutions,
    runtime: parts.runtime,
    functionsByArn: new Map(parts.deployments.map((d) => [d.arn, d.logicalId])),
    sns: new SNSClient(clientConfig(parts.endpoint, 'states')),
    onEvent: parts.onEvent,
    authorizeInvoke: (functionArn) =>
      parts.iam.require('states', [{ action: 'lambda:InvokeFunction', resource: functionArn }]),
  });

const eventSourceOf = (spec: EventSourceSpec, context: SourceContext, endpoint: Endpoint): EventSource => {
  // Lambda's pollers read a function's event source with the function's role: their own principal.
  const principal = `esm.${spec.settings.functionId}`;
  const poller = () => ({ ...context, sqs: new SQSClient(clientConfig(endpoint, principal)) });
  switch (spec.type) {
    case 'EventBridgeRule':
      return new AsyncInvokeSource(context, spec.settings);
    case 'SQS':
      return new SqsSource(poller(), spec.settings);
    case 'DynamoDB':
      return new StreamSource(
        poller(),
        new DynamoDBStreamsClient(clientConfig(endpoint, principal)),
        spec.settings,
      );
  }
};

/** The whole pipeline on one machine: emulator, provisioned resources, Lambda runtime, Step Functions, event sources, API. */
export class OfflinePipeline {
  readonly root: string;
  readonly template: Template;
  readonly endpoint: Endpoint;
  readonly provisioned: Provisioned;
  readonly runtime: LambdaRuntime;
  readonly stepFunctions: LocalStepFunctions;
  readonly sources: EventSource[];
  readonly apiUrl: string;
  readonly clients: { s3: S3Client; ddb: DynamoDBDocumentClient; sqs: SQSClient; sns: SNSClient };
  readonly bucket: string;
  readonly table: string;
  /** Counts every AWS call, invocation and state transition of the run, for the cost report. */
  readonly meter: Meter;
  /** Checks every call a role makes against that role's policies (local/iam/). */
  readonly iam: IamAuthorizer;
  private readonly emulator: Emulator;
  private readonly proxy: MeteringProxy;
  private readonly deliveries: DeliveryChaosControl;
  private readonly userS3: S3Client;
  private readonly api: LocalApi;
  private readonly log: (line: string) => void;

  private constructor(fields: {
    root: string;
    template: Template;
    emulator: Emulator;
    provisioned: Provisioned;
    runtime: LambdaRuntime;
    stepFunctions: LocalStepFunctions;
    sources: EventSource[];
    api: LocalApi;
    apiUrl: string;
    clients: OfflinePipeline['clients'];
    log: (line: string) => void;
    meter: Meter;
    iam: IamAuthorizer;
    proxy: MeteringProxy;
    endpoint: Endpoint;
    deliveries: DeliveryChaosControl;
  }) {
    this.deliveries = fields.deliveries;
    this.root = fields.root;
    this.template = fields.template;
    this.emulator = fields.emulator;
    this.endpoint = fields.endpoint;
    this.meter = fields.meter;
    this.iam = fields.iam;
    this.proxy = fields.proxy;
    this.userS3 = new S3Client({ ...clientConfig(fields.endpoint, 'user'), forcePathStyle: true });
    this.provisioned = fields.provisioned;
    this.runtime = fields.runtime;
    this.stepFunctions = fields.stepFunctions;
    this.sources = fields.sources;
    this.api = fields.api;
    this.apiUrl = fields.apiUrl;
    this.clients = fields.clients;
    this.log = fields.log;
    this.bucket = fields.provisioned.ref('DataBucket');
    this.table = fields.provisioned.ref('Table');
  }

  static async start(options: OfflineOptions): Promise<OfflinePipeline> {
    const log = options.log ?? (() => undefined);
    const root = options.root;
    await ensureBuild(root, options.build ?? 'auto', log);
    const template = loadTemplate(join(root, 'template.yaml'));
    const built: Build = { dir: buildDirOf(root), template: loadTemplate(builtTemplateOf(root)) };
    const emulator = options.endpoint ? attachEmulator(options.endpoint) : await startEmulator(root, log);
    // Every call of the run goes through the metering proxy; only the proxy talks to the emulator.
    const meter = new Meter();
    const proxy = new MeteringProxy({ upstream: emulator.endpoint.url, meter });
    const endpoint: Endpoint = { url: await proxy.listen() };
    const stopOnError = async <T>(work: () => Promise<T>): Promise<T> => {
      try {
        return await work();
      } catch (error) {
        await proxy.stop();
        await emulator.stop();
        throw error;
      }
    };
    return stopOnError(async () => {
      const stackName = options.stackName ?? `offline-${Date.now().toString(36)}`;
      const provisioned = await provision(template, endpoint, {
        stackName,
        parameters: options.parameters,
        log,
      });
      const machine = stateMachineOf(template, provisioned);
      // From here on every call a role makes is checked against that role, as SAM's transform writes it.
      const iam = authorizerOf(options, provisioned, machine.logicalId);
      proxy.authorize(iam);
      const clients = clientsOf(endpoint);

      // The functions' environment names the Step Functions endpoint, and Step Functions calls the functions:
      // pick the server's port first, start the runtime with it, then serve Step Functions on that port.
      const sfnPort = await freePort();
      const sfnUrl = `http://127.0.0.1:${sfnPort}`;
      proxy.route('states', sfnUrl);
      const deployments = deploymentsOf(template, provisioned, built);
      const runtime = lambdaRuntimeOf(deployments, {
        root,
        concurrency: options.concurrency,
        meter,
        endpoint,
      });
      // A kill fault at the boundary ends the very environment that made the call (see proxy.ts).
      proxy.onKill((accessKeyId) => runtime.kill(accessKeyId));
      log(`lambda: ${deployments.length} functions from ${built.dir} (logs in .local/logs/)`);
      const stepFunctions = stepFunctionsOf(machine, {
        root,
        provisioned,
        runtime,
        deployments,
        iam,
        endpoint,
        onEvent: options.onExecutionEvent,
      });
      meter.setTaskFunctions(stepFunctions.taskFunctionIds());
      await stepFunctions.listen(sfnPort);
      log(`stepfunctions: ${machine.logicalId} from ${machine.definitionUri} on ${sfnUrl}`);

      const deliveries = new DeliveryChaosControl();
      const sourceContext: SourceContext = {
        runtime,
        deliveries,
        sqs: clients.sqs,
        inspect: clients.sqs,
        log,
        retryDelaySeconds: options.retryDelaySeconds ?? 1,
      };
      const sources = eventSourcesOf(template, provisioned).map((spec) =>
        eventSourceOf(spec, sourceContext, endpoint),
      );
      for (const source of sources) {
        source.start();
        log(`event source: ${source.name}`);
      }

      const { routes, stage } = apiOf(template, provisioned);
      const api = new LocalApi(routes, runtime, stage, () => meter.apiRequest());
      const apiUrl = await api.listen(options.apiPort ?? 0);
      log(`api: ${apiUrl} (routes from the template's Api events)`);
      if (provisioned.skipped.length > 0) log(`not emulated: ${provisioned.skipped.join(', ')}`);

      return new OfflinePipeline({
        root,
        template,
        emulator,
        provisioned,
        runtime,
        stepFunctions,
        sources,
        api,
        apiUrl,
        clients,
        log,
        meter,
        iam,
        proxy,
        endpoint,
        deliveries,
      });
    });
  }

  /** Uploads a local file (or bytes) to uploads/, as a user would; EventBridge does the rest. */
  async upload(path: string, options: { key?: string; body?: Uint8Array | string } = {}): Promise<Uploaded> {
    const key = options.key ?? `uploads/${basename(path)}`;
    const body = options.body ?? readFileSync(path);
    const put = await this.userS3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'text/csv' }),
    );
    const etag = (put.ETag ?? '').replaceAll('"', '');
    const fileId = fileIdOf(this.bucket, key, etag);
    return { key, etag, fileId, executionName: executionNameOf(key, fileId) };
  }

  /**
   * Reruns a FAILED file: a new execution of the same object version, with the input its first run had (the
   * file reference, rebuilt from its FILE# item). Step Functions' own redrive cannot help here: the workflow
   * catches every error and ends in its Fail state, and a redrive restarts only that state. Every step is
   * idempotent, so the rerun finishes the file exactly: chunks already stored are skipped, pages already
   * applied to totals are skipped by their APPLIED markers, and the FILE# item ends SUCCEEDED (or REJECTED).
   */
  async redrive(key: string): Promise<Uploaded> {
    const { Item } = await this.clients.ddb.send(
      new GetCommand({ TableName: this.table, Key: { PK: filePk(key), SK: FILE_METADATA_SK } }),
    );
    if (Item === undefined) throw new Error(`${key}: no FILE# item; was it ever uploaded to this emulator?`);
    const metadata = FileMetadataSchema.parse(Item);
    if (metadata.status !== 'FAILED')
      throw new Error(`${key} is ${metadata.status}, not FAILED: nothing to redrive`);
    const file = fileRefOf(metadata);
    const base = executionNameOf(key, file.fileId);
    for (let attempt = 1; ; attempt += 1) {
      const executionName = `${base}-r${attempt}`;
      if (this.stepFunctions.byName(executionName) !== undefined) continue;
      this.stepFunctions.start(executionName, JSON.stringify({ file }));
      return { key, etag: file.etag, fileId: file.fileId, executionName };
    }
  }

  /** Waits until the upload's execution has started and finished. */
  async waitForExecution(name: string, timeoutMs: number): Promise<ExecutionRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = this.stepFunctions.byName(name);
      if (record) {
        const remaining = deadline - Date.now();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), Math.max(0, remaining));
        });
        const outcome = await Promise.race([record.done.then(() => 'done' as const), timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout')
          throw new Error(`execution ${name} still ${record.status} after ${timeoutMs} ms`);
        return record;
      }
      if (Date.now() > deadline) throw new Error(`no execution named ${name} started within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Waits until every event source has drained: stream consumers caught up, queues empty. */
  async waitIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let quietChecks = 0;
    while (quietChecks < 3) {
      if (Date.now() > deadline) throw new Error(`event sources still busy after ${timeoutMs} ms`);
      const running = this.stepFunctions.list().some((execution) => execution.status === 'RUNNING');
      const idle =
        !running && (await Promise.all(this.sources.map((source) => source.idle()))).every(Boolean);
      quietChecks = idle ? quietChecks + 1 : 0;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  streamArn(): string {
    return this.provisioned.physical.get('Table')?.attributes.StreamArn ?? '';
  }

  /** Every record the table's stream holds now (all shards, oldest first) that `keep` keeps. */
  async streamRecords(keep: (record: StreamRecord) => boolean = () => true): Promise<StreamRecord[]> {
    const streams = new DynamoDBStreamsClient(clientConfig(this.endpoint));
    return (await readStreamRecords(streams, this.streamArn())).filter(keep);
  }

  /** Makes AWS answer matching calls with an error, at the emulator boundary (for fault tests). */
  injectAwsFault(fault: ProxyFault): void {
    this.proxy.injectFault(fault);
  }

  clearAwsFaults(): void {
    this.proxy.clearFaults();
  }

  /** Seeds the faults that have a `rate`, so a run's faults are replayed by its seed. */
  seedAwsFaults(seed: number): void {
    this.proxy.seedFaults(seed);
  }

  /** Repeats and interleaves the event sources' deliveries from now on (undefined: delivers as usual). */
  disturbDeliveries(plan: DeliveryChaos | undefined): void {
    this.deliveries.set(plan);
  }

  /** What the injected faults and disturbed deliveries did so far in this run. */
  faultFigures(): FaultFigures & DeliveryFigures {
    return { ...this.proxy.faultFigures, ...this.deliveries.figures };
  }

  /** The meter's counts so far, with what the bucket and the table hold now. */
  async meterSnapshot(): Promise<MeterSnapshot> {
    const storedBytesByPrefix: Record<string, number> = {};
    let token: string | undefined;
    do {
      const page = await this.clients.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const prefix = `${String(object.Key).split('/')[0]}/`;
        storedBytesByPrefix[prefix] = (storedBytesByPrefix[prefix] ?? 0) + (object.Size ?? 0);
      }
      token = page.NextContinuationToken;
    } while (token !== undefined);
    const executions = this.stepFunctions.list();
    return this.meter.snapshot({
      executions: executions.length,
      stateTransitions: executions.reduce((total, execution) => total + execution.transitions, 0),
      storedBytesByPrefix,
      dynamoStorage: this.proxy.dynamoStorage(),
    });
  }

  /** The run priced as AWS would bill it, per stored event. */
  async cost(storedEvents: number): Promise<{ report: CostReport; counts: MeterSnapshot }> {
    const counts = await this.meterSnapshot();
    return { report: priceSnapshot(counts, storedEvents), counts };
  }

  emulatorPid(): number | undefined {
    return this.emulator.pid;
  }

  async stop(): Promise<void> {
    // What the run proved its roles allow (and any denial), one line per run: `jq` over it sums a test suite.
    mkdirSync(join(this.root, '.local'), { recursive: true });
    appendFileSync(
      join(this.root, '.local', 'iam-calls.jsonl'),
      `${JSON.stringify({ stack: this.provisioned.stackName, at: new Date().toISOString(), roles: this.iam.summary() })}\n`,
    );
    await Promise.allSettled(this.sources.map((source) => source.stop()));
    await this.stepFunctions.stop();
    await this.api.stop();
    await this.runtime.stop();
    await this.proxy.stop();
    await this.emulator.stop();
  }
}
