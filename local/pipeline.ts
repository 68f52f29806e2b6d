import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, type _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { executionNameOf, FILE_METADATA_SK, fileIdOf, filePk } from '../functions/shared/keys.ts';
import type { FileRef } from '../functions/shared/model.ts';
import { LocalApi, routesOf } from './api.ts';
import { clientConfig, DUMMY_CREDENTIALS, type Endpoint, REGION } from './aws.ts';
import { buildDirOf, isBuildFresh, samBuild } from './build.ts';
import { type DeliveryChaos, DeliveryChaosControl, type DeliveryFigures } from './chaos.ts';
import { attachEmulator, type Emulator, freePort, startEmulator } from './emulator.ts';
import {
  AsyncInvokeSource,
  type EventSource,
  readStreamRecords,
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
import { functionsOf, type Json, loadTemplate, resourcesOfType, type Template } from './template.ts';

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

const asString = (value: Json): string => (typeof value === 'string' ? value : JSON.stringify(value));

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
    const build = options.build ?? 'auto';
    if (build === 'always' || (build === 'auto' && !isBuildFresh(root))) await samBuild(root, log);
    else log('build: .aws-sam/build is up to date');

    const template = loadTemplate(join(root, 'template.yaml'));
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
      // From here on every call a role makes is checked against that role, as SAM's transform writes it.
      const translated = translateTemplate(root, join(root, 'template.yaml'), {
        region: REGION,
        parameters: options.parameters,
      });
      const iam = IamAuthorizer.fromTranslation(
        options.editTranslation ? options.editTranslation(translated) : translated,
        resolverContextOf(provisioned, options.parameters),
        stackName,
        resourcesOfType(template, 'AWS::Serverless::StateMachine')[0]?.[0] ?? '',
      );
      proxy.authorize(iam);
      const config = clientConfig(endpoint);
      const clients = {
        s3: new S3Client({ ...config, forcePathStyle: true }),
        ddb: DynamoDBDocumentClient.from(new DynamoDBClient(config)),
        sqs: new SQSClient(config),
        sns: new SNSClient(config),
      };

      const functions = functionsOf(template);
      const buildDir = buildDirOf(root);
      const resolve = (node: Json) => provisioned.resolver.resolve(node);
      const deployments: FunctionDeployment[] = functions.map((fn) => {
        const [file, exportName] = fn.handler.split('.') as [string, string];
        const layers = ((fn.properties.Layers ?? []) as { Ref?: string }[]).map((layer) =>
          join(buildDir, String(layer.Ref), 'nodejs', 'node_modules'),
        );
        return {
          logicalId: fn.logicalId,
          name: provisioned.ref(fn.logicalId),
          arn: provisioned.physical.get(fn.logicalId)?.attributes.Arn ?? '',
          functionDir: join(buildDir, fn.logicalId),
          handlerFile: join(buildDir, fn.logicalId, `${file}.mjs`),
          exportName,
          layerNodeModules: layers,
          environment: Object.fromEntries(
            Object.entries(fn.environment).map(([key, value]) => [key, asString(resolve(value))]),
          ),
          timeoutSeconds: fn.timeoutSeconds,
          memoryMb: fn.memoryMb,
        };
      });

      const [machineId, machine] = resourcesOfType(template, 'AWS::Serverless::StateMachine')[0] ?? [];
      if (!machineId || !machine) throw new Error('template.yaml declares no AWS::Serverless::StateMachine');
      const substitutions = resolve((machine.Properties?.DefinitionSubstitutions ?? {}) as Json) as Record<
        string,
        string
      >;

      // The functions' environment names the Step Functions endpoint, and Step Functions calls the functions:
      // pick the server's port first, start the runtime with it, then serve Step Functions on that port.
      const sfnPort = await freePort();
      const sfnUrl = `http://127.0.0.1:${sfnPort}`;
      proxy.route('states', sfnUrl);
      const runtime = new LambdaRuntime(deployments, {
        logDir: join(root, '.local', 'logs'),
        // As many as the ProcessRecords Map runs at once: a chunk never waits for an environment while its
        // Task timeout runs, which Lambda, scaling out, would not make it do.
        concurrency: options.concurrency ?? 10,
        hooks: {
          onInvocation: (record) => meter.invocation(record),
          onLog: (functionId, chunk) => meter.log(functionId, chunk),
        },
        baseEnvironment: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          TZ: 'UTC',
          LANG: 'en_US.UTF-8',
          AWS_REGION: REGION,
          AWS_DEFAULT_REGION: REGION,
          AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey,
          AWS_ENDPOINT_URL: endpoint.url,
          // No X-Ray daemon offline; everything else Powertools does runs as deployed.
          POWERTOOLS_TRACE_ENABLED: 'false',
        },
      });
      // A kill fault at the boundary ends the very environment that made the call (see proxy.ts).
      proxy.onKill((accessKeyId) => runtime.kill(accessKeyId));
      log(`lambda: ${deployments.length} functions from ${buildDir} (logs in .local/logs/)`);
      const stepFunctions = new LocalStepFunctions({
        stateMachineArn: provisioned.ref(machineId),
        definitionPath: join(root, String(machine.Properties?.DefinitionUri)),
        substitutions,
        runtime,
        functionsByArn: new Map(deployments.map((d) => [d.arn, d.logicalId])),
        sns: new SNSClient(clientConfig(endpoint, 'states')),
        onEvent: options.onExecutionEvent,
        authorizeInvoke: (functionArn) =>
          iam.require('states', [{ action: 'lambda:InvokeFunction', resource: functionArn }]),
      });
      meter.setTaskFunctions(stepFunctions.taskFunctionIds());
      await stepFunctions.listen(sfnPort);
      log(`stepfunctions: ${machineId} from ${String(machine.Properties?.DefinitionUri)} on ${sfnUrl}`);

      const queueUrlByArn = new Map<string, string>();
      for (const { ref, attributes } of provisioned.physical.values()) {
        if (attributes.Arn?.startsWith('arn:aws:sqs:')) queueUrlByArn.set(attributes.Arn, ref);
      }
      const deliveries = new DeliveryChaosControl();
      const sourceContext = {
        runtime,
        deliveries,
        sqs: clients.sqs,
        inspect: clients.sqs,
        log,
        retryDelaySeconds: options.retryDelaySeconds ?? 1,
      };
      // Lambda's pollers read a function's event source with the function's role: their own principal.
      const pollerContext = (functionId: string) => ({
        ...sourceContext,
        sqs: new SQSClient(clientConfig(endpoint, `esm.${functionId}`)),
      });
      const sources: EventSource[] = [];
      for (const target of provisioned.ruleTargets) {
        const fn = functions.find((candidate) => candidate.logicalId === target.functionId);
        const invokeConfig = resolve((fn?.properties.EventInvokeConfig ?? {}) as Json) as {
          MaximumRetryAttempts?: number;
          DestinationConfig?: { OnFailure?: { Destination?: string } };
        };
        const failureArn = invokeConfig.DestinationConfig?.OnFailure?.Destination;
        sources.push(
          new AsyncInvokeSource(sourceContext, {
            queueUrl: target.queueUrl,
            functionId: target.functionId,
            functionArn: provisioned.physical.get(target.functionId)?.attributes.Arn ?? '',
            maxRetries: invokeConfig.MaximumRetryAttempts ?? 2,
            onFailureQueueUrl: failureArn ? queueUrlByArn.get(failureArn) : undefined,
          }),
        );
      }
      for (const fn of functions) {
        for (const event of Object.values(fn.events)) {
          const props = resolve(event.Properties as Json) as Record<string, Json>;
          const responseTypes = (props.FunctionResponseTypes ?? []) as string[];
          if (event.Type === 'SQS') {
            const queueArn = String(props.Queue);
            sources.push(
              new SqsSource(pollerContext(fn.logicalId), {
                queueUrl: queueUrlByArn.get(queueArn) ?? '',
                queueArn,
                functionId: fn.logicalId,
                batchSize: Number(props.BatchSize ?? 10),
                reportBatchItemFailures: responseTypes.includes('ReportBatchItemFailures'),
              }),
            );
          } else if (event.Type === 'DynamoDB') {
            const destination = (
              props.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined
            )?.OnFailure?.Destination;
            sources.push(
              new StreamSource(
                pollerContext(fn.logicalId),
                new DynamoDBStreamsClient(clientConfig(endpoint, `esm.${fn.logicalId}`)),
                {
                  streamArn: String(props.Stream),
                  functionId: fn.logicalId,
                  functionArn: provisioned.physical.get(fn.logicalId)?.attributes.Arn ?? '',
                  batchSize: Number(props.BatchSize ?? 100),
                  parallelization: Number(props.ParallelizationFactor ?? 1),
                  startingPosition: props.StartingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
                  filters: (props.FilterCriteria as { Filters?: { Pattern: string }[] } | undefined)?.Filters,
                  bisectOnError: props.BisectBatchOnFunctionError === true,
                  // -1 is Lambda's "retry until the record succeeds" (or, with a maximum age, expires).
                  maxRetries:
                    Number(props.MaximumRetryAttempts ?? -1) < 0
                      ? Number.POSITIVE_INFINITY
                      : Number(props.MaximumRetryAttempts),
                  reportBatchItemFailures: responseTypes.includes('ReportBatchItemFailures'),
                  onFailureQueueUrl: destination ? queueUrlByArn.get(destination) : undefined,
                },
              ),
            );
          }
        }
      }
      for (const source of sources) {
        source.start();
        log(`event source: ${source.name}`);
      }

      const api = new LocalApi(
        routesOf(functions),
        runtime,
        String(provisioned.resolver.parameter('Stage') ?? 'dev'),
        () => meter.apiRequest(),
      );
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
    if (Item.status !== 'FAILED')
      throw new Error(`${key} is ${String(Item.status)}, not FAILED: nothing to redrive`);
    const file: FileRef = {
      bucket: String(Item.bucket),
      key,
      etag: String(Item.etag),
      ...(typeof Item.versionId === 'string' ? { versionId: Item.versionId } : {}),
      size: Number(Item.size),
      eventTime: String(Item.uploadedAt),
      fileId: String(Item.fileId),
    };
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
