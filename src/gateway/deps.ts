// What the gateway is built from (buildApp's argument), shared by app.ts and every route.
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import type { Deployer } from '../deploy/deployer.js';
import type { ExecutionApi } from '../execution/api.js';
import type { AsyncJobs } from '../jobs/async-jobs.js';
import type { Scheduler } from '../jobs/scheduler.js';
import type { Observability } from '../observability/observability.js';
import type { Secrets } from '../secrets/secrets.js';

export interface AppDeps {
  config: LoadedConfig;
  functions: Deployer;
  logger: Logger;
  execution: ExecutionApi;
  /** Asynchronous invocations (/async, /invocations). */
  jobs: AsyncJobs;
  /** Cron schedules (GET /schedules). */
  schedules: Pick<Scheduler, 'list'>;
  observability: Observability;
  /** Secrets (/secrets): the store and who uses each. */
  secrets: Secrets;
  /** Called for each request refused by a key's rate limit (default: observability's counter). */
  onRateLimited?: (keyName: string) => void;
}
