import type { InvocationUsage } from './usage.ts';

// Messages between the offline Lambda runtime and its worker threads.

export interface WorkerData {
  functionName: string;
  functionArn: string;
  functionDir: string;
  handlerFile: string;
  exportName: string;
  layerNodeModules: string[];
  memoryMb: number;
  logStreamName: string;
}

export interface InvokeRequest {
  id: number;
  event: unknown;
  deadline: number;
  requestId?: string;
}

export interface ErrorPayload {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

/** Durations as Lambda bills them: measured inside the environment, init and handler apart. */
export type WorkerMessage =
  | { type: 'ready'; initMs: number }
  | ({ type: 'init-error'; initMs: number } & ErrorPayload)
  | { type: 'result'; id: number; ok: true; result: unknown; durationMs: number; usage: InvocationUsage }
  | ({ type: 'result'; id: number; ok: false; durationMs: number; usage: InvocationUsage } & ErrorPayload);
