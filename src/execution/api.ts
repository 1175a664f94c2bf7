// What the layers above may ask of the execution side: the gateway (ExecutionApi), the deploy
// path (DeployTarget) and the metrics (MetricsSource). They know nothing else of it.
import type { FunctionRecord } from '../model/function-model.js';
import type { DriverHealth, ExecutionMode, InstanceUsage, RuntimeName, SecretFile } from './driver.js';
import type { CallSignal, InvokeOutcome } from './pool/pool.js';
import type { InvokeRequest } from './protocol/shim-channel.js';
import type { InstanceInfo } from '../model/api-types.js';

export type { InvokeOutcome };

export interface InstanceCounts {
  total: number;
  starting: number;
  idle: number;
  busy: number;
  stopping: number;
}

/** An entry of GET /instances (the shape its clients read too). */
export type { InstanceInfo };

export interface InstanceState {
  function: string;
  mode: ExecutionMode;
  state: string;
}

export interface InstanceUsageReport {
  function: string;
  mode: ExecutionMode;
  instance: string;
  usage: InstanceUsage | null;
}

/** What metrics read at scrape time. */
export interface MetricsSource {
  instanceStates(): InstanceState[];
  queueDepths(): { function: string; depth: number }[];
  instanceUsage(only?: string): Promise<InstanceUsageReport[]>;
}

/** The gateway's view. */
export interface ExecutionApi extends MetricsSource {
  /** Every mode this daemon knows, running or not. Never waits: drivers keep their state current in the background. */
  health(): Record<ExecutionMode, DriverHealth>;
  instanceCounts(functionName: string): InstanceCounts;
  /** `signal`: the client went away (a queued call leaves the queue; a running one finishes). */
  invoke(functionName: string, req: Omit<InvokeRequest, 'timeoutMs'>, signal?: CallSignal): Promise<InvokeOutcome>;
  listInstances(): InstanceInfo[];
  stopInstance(id: string): Promise<void>;
}

/**
 * Where the manager gets a function's secret values, each time one of its instances starts
 * (the daemon hands it the secret store). Never throws: a secret it cannot give is left out.
 */
export interface SecretSource {
  read(names: readonly string[]): SecretFile[];
}

/** What the deploy path asks, in this order, before and after it writes a version to the registry. */
export interface DeployTarget {
  /** The mode runs here and has what the runtime needs (its image): throws DEPLOY_FAILED naming why not. */
  prepare(mode: ExecutionMode, runtime: RuntimeName): Promise<void>;
  /** The version's code loads (parsed in a sandbox, not run): throws DEPLOY_FAILED with the line. */
  checkCode(runtime: RuntimeName, dir: string, file: string, handler: string | null): Promise<void>;
  /** A ready version (code in `codeDir`, row written): its pool starts or rolls over to it. */
  deployed(rec: FunctionRecord, codeDir: string): Promise<void>;
  /** The function is gone: its calls are refused, its instances stop, its metrics are dropped. */
  removed(name: string): Promise<void>;
  /**
   * A retained older version called pinned: its own small pool (made on first use, gone when
   * idle), under the key "name@version" that invoke() takes. Returns that key.
   */
  pinned(rec: FunctionRecord, codeDir: string): string;
  /** Versions of `name` not in `keep` were pruned: their pinned pools close. */
  unpinned(name: string, keep: ReadonlySet<number>): void;
}
