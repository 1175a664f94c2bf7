// Boot and shutdown: everything the daemon owns is started here in order and closed in
// reverse order by close().
import type { FastifyInstance } from 'fastify';
import type { LoadedConfig } from './config/load.js';
import { buildApp } from './gateway/app.js';
import type { DriverFactory } from './execution/driver.js';
import { removeRunDir } from './os/run-dir.js';
import { setUpExecution, type ExecutionOptions } from './execution/setup.js';
import type { ExecutionManager } from './execution/manager.js';
import { createLogger, type Logger } from './logger.js';
import { Observability } from './observability/observability.js';
import { CodeStore } from './deploy/code-store.js';
import { Deployer } from './deploy/deployer.js';
import { LocalDependencyInstaller } from './deploy/dependencies.js';
import { AsyncJobs } from './jobs/async-jobs.js';
import { CallbackPolicy, CallbackSender } from './jobs/callbacks.js';
import { Dispatcher, resolveAsync } from './jobs/dispatcher.js';
import { Scheduler } from './jobs/scheduler.js';
import { SqliteJobStore } from './jobs/sqlite-job-store.js';
import { SqliteScheduleStore } from './jobs/sqlite-schedule-store.js';
import { RegistryLock } from './os/registry-lock.js';
import { RegistryStore } from './registry/store.js';
import { KeyFile, checkKeyPath } from './secrets/key-file.js';
import { SecretStore } from './secrets/secret-store.js';
import { Secrets } from './secrets/secrets.js';

export interface Daemon {
  readonly app: FastifyInstance;
  readonly config: LoadedConfig;
  /** The deploy path and the registry's one door (create, update, delete, read). */
  readonly functions: Deployer;
  readonly manager: ExecutionManager;
  readonly observability: Observability;
  readonly logger: Logger;
  /** http://host:port once listening. */
  readonly url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Default true; tests may use app.inject() without a socket. */
  listen?: boolean;
  /** Docker engine client and re-probe interval (tests: an engine that answers late). */
  docker?: ExecutionOptions['docker'];
  engineRetryMs?: number;
  /** Interval of the background engine probe behind /health (tests: slower or faster). */
  engineProbeMs?: number;
  /** Drivers beyond the built-in ones (a test's in-process driver). */
  drivers?: readonly DriverFactory[];
}

export async function startDaemon(config: LoadedConfig, opts: StartOptions = {}): Promise<Daemon> {
  const logger = opts.logger ?? createLogger(config.system.logging_level);
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (e) {
        logger.error({ err: e }, 'error during shutdown');
      }
    }
    closers.length = 0;
  };

  try {
    // Before anything else: a second daemon on this registry must change nothing.
    const lock = RegistryLock.acquire(config.system.registry_path);
    closers.push(() => lock.release());
    if (config.using_demo_keys) {
      logger.warn('no api_keys configured: the public quick-start keys demo-key and admin-key are in force; run `faasd --create-config` and start with -c');
    }
    const store = new RegistryStore(config.system.registry_path);
    closers.push(() => store.close());
    logger.info({ registry: config.system.registry_path }, 'registry open');
    const secretStore = openSecrets(config, store, logger);

    const code = new CodeStore(config.system.function_storage_path);
    // The observer reads instance state from the manager at scrape time; the manager feeds it events.
    let observability: Observability | null = null;
    const { manager, watchLateDrivers, runRoot, interpreters } = await setUpExecution(config, logger, {
      observer: {
        invocation: (e) => observability!.invocation(e),
        functionLogs: (f, r, l) => observability!.functionLogs(f, r, l),
        functionRemoved: (f) => observability!.functionRemoved(f),
      },
      ...(opts.docker ? { docker: opts.docker } : {}),
      ...(opts.engineRetryMs !== undefined ? { engineRetryMs: opts.engineRetryMs } : {}),
      ...(opts.engineProbeMs !== undefined ? { engineProbeMs: opts.engineProbeMs } : {}),
      ...(opts.drivers ? { drivers: opts.drivers } : {}),
      secrets: secretStore,
    });
    observability = new Observability(manager, logger);
    closers.push(() => removeRunDir(runRoot));
    closers.push(() => manager.close());
    // Made below, once async jobs exist; told of every deploy from then on.
    let scheduler: Scheduler | null = null;
    const functions = new Deployer({
      store,
      code,
      target: manager,
      installer: new LocalDependencyInstaller({ pythonPath: interpreters.python?.path ?? '/usr/bin/python3' }),
      defaultMode: config.system.default_mode,
      maxCodeSize: config.system.max_code_size,
      versionsRetained: config.system.versions_retained,
      logger,
      onChanged: (name) => scheduler?.functionChanged(name),
      checkSecrets: (rec): void => secrets.checkFunction(rec),
    });
    const secrets: Secrets = new Secrets({
      store: secretStore,
      uses: () => functions.list().map((r) => ({ function: r.name, secrets: r.config.secrets ?? [] })),
      renew: (fn) => manager.renew(fn),
      logger,
    });
    // Declared functions deployed, every registered function's pool started (min_instances warm now).
    await functions.start(config.declared);
    manager.startPrewarming();
    // A mode that comes up after boot (a Docker engine that answers late) gets the pools of its
    // functions registered meanwhile.
    closers.push(watchLateDrivers((mode) => functions.serveMode(mode)));

    // Asynchronous invocations: durable in the registry's database, run through the same pools.
    const jobStore = new SqliteJobStore(store.database);
    const asyncSettings = (fn: string) => {
      const rec = functions.find(fn);
      return rec ? resolveAsync(rec.config.async, config.async) : null;
    };
    // Result callbacks (X-Callback-Url): delivered from the job's row, pending ones resumed at boot.
    const callbackPolicy = new CallbackPolicy(config.async.callback_allowed_hosts);
    const callbacks = new CallbackSender({ store: jobStore, policy: callbackPolicy, defaults: config.async, logger });
    const dispatcher = new Dispatcher({
      callbacks,
      store: jobStore,
      execution: manager,
      pin: (name, version) => functions.pin(name, version),
      settings: asyncSettings,
      defaults: config.async,
      logger,
      onFinished: (job, status) => observability!.metrics.asyncJobEnded(job.function, status, job.attempts),
    });
    observability.metrics.watchAsyncQueue(() => jobStore.stats());
    const jobs = new AsyncJobs(jobStore, dispatcher, asyncSettings, callbackPolicy);
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    // Cron schedules: each tick queues an async job. Stopped before the dispatcher (closers run in reverse).
    const cron = new Scheduler({ store: new SqliteScheduleStore(store.database), jobs, functions, logger });
    scheduler = cron;
    cron.start();
    closers.push(() => cron.stop());
    callbacks.start();
    closers.push(() => callbacks.stop());

    const app = await buildApp({ config, functions, logger, execution: manager, observability, jobs, schedules: cron, secrets });
    let appClosing: Promise<void> | null = null;
    const closeApp = () => (appClosing ??= app.close());
    closers.push(closeApp);

    let url = '';
    if (opts.listen !== false) {
      url = await app.listen({ host: config.system.api_gateway_host, port: config.system.api_gateway_port });
      logger.info({ url, mode: config.system.default_mode, isolation: config.system.process_isolation_level }, 'faasd listening');
    }
    let closed: Promise<void> | null = null;
    // Graceful: refuse new invocations, stop listening, let running calls finish within
    // shutdown_timeout, then kill what is left and close everything in reverse order.
    const shutdown = async () => {
      // No new async job starts (nor is queued by a cron tick); the running ones finish within the same deadline as calls.
      cron.stop();
      // Callbacks first: those of jobs that end from here on stay pending for the next boot.
      const callbacksDone = callbacks.stop();
      const jobsDone = dispatcher.stop();
      manager.drain();
      const graceful = Promise.all([closeApp(), jobsDone, callbacksDone]).then(() => undefined);
      // Fastify closes the connections idle when close starts; keep-alive connections whose
      // call finishes later become idle afterwards and would hold close() open forever.
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      void graceful.finally(() => clearInterval(reaper));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((r) => (timer = setTimeout(() => r('deadline'), config.system.shutdown_timeout * 1000)));
      if ((await Promise.race([graceful.then(() => 'done' as const), deadline])) === 'deadline') {
        logger.warn({ timeout_s: config.system.shutdown_timeout }, 'shutdown deadline passed: killing invocations still running');
        await manager.close();
        // A connection that never sent a request is not "idle" to Node and would hold close()
        // past the deadline: every connection goes now.
        app.server.closeAllConnections();
      }
      clearTimeout(timer);
      await graceful;
      await closeAll();
      logger.info('faasd stopped');
    };
    return {
      app,
      config,
      functions,
      manager,
      observability,
      logger,
      url,
      close: () => (closed ??= shutdown()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * The secret store on the registry's database. A bad key file (readable by others, the wrong
 * length) stops the boot; a missing one is made when the first secret is set. Secrets the key
 * does not open (a registry copied without its key file) are reported, not fatal: functions
 * that do not use them run as before.
 */
function openSecrets(config: LoadedConfig, store: RegistryStore, logger: Logger): SecretStore {
  const sys = config.system;
  checkKeyPath(sys.secrets_key_path, sys.function_storage_path, sys.registry_path);
  const key = new KeyFile(sys.secrets_key_path);
  key.load();
  const secrets = new SecretStore(store.database, key, (name, why) => logger.warn({ secret: name, reason: why }, 'secret left out of an instance: its file will be missing'));
  const unreadable = secrets.unreadable();
  if (unreadable.length > 0) {
    logger.warn(
      { secrets: unreadable, key_file: sys.secrets_key_path },
      'the secrets key file does not open these secrets (missing, or not the key they were sealed with): functions that use them will not find their files',
    );
  }
  return secrets;
}
