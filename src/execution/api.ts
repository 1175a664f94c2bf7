// What the gateway may ask of the execution side. The gateway knows nothing else of it.
import type { DriverHealth } from './driver.js';
import type { InstanceInfo } from './manager.js';
import type { InvokeOutcome } from './pool/pool.js';
import type { InvokeRequest } from './protocol/shim-channel.js';

export interface InstanceCounts {
  total: number;
  starting?: number;
  idle?: number;
  busy?: number;
  stopping?: number;
}

export interface ExecutionApi {
  /** Never waits: drivers keep their state current in the background. */
  health(): Record<string, DriverHealth>;
  instanceCounts(functionName: string): InstanceCounts;
  invoke?(functionName: string, req: Omit<InvokeRequest, 'timeoutMs'>, signal?: AbortSignal): Promise<InvokeOutcome>;
  listInstances?(): InstanceInfo[];
  stopInstance?(id: string): Promise<void>;
  instanceStates?(): { function: string; mode: string; state: string }[];
  queueDepths?(): { function: string; depth: number }[];
  instanceUsage?(only?: string): Promise<{ function: string; instance: string; usage: { cpuSeconds: number; memoryBytes: number } | null }[]>;
}
