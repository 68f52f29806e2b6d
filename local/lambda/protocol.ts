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

export type WorkerMessage =
  | { type: 'ready' }
  | ({ type: 'init-error' } & ErrorPayload)
  | { type: 'result'; id: number; ok: true; result: unknown }
  | ({ type: 'result'; id: number; ok: false } & ErrorPayload);
