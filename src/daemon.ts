// Boot and shutdown: everything the daemon owns is started here in order and closed in
// reverse order by close().
import type { FastifyInstance } from 'fastify';
import type { LoadedConfig } from './config/load.js';
import { buildApp } from './gateway/app.js';
import { setUpExecution } from './execution/setup.js';
import type { ExecutionManager } from './execution/manager.js';
import { createLogger, type Logger } from './logger.js';
import { CodeStore } from './registry/code-store.js';
import { FunctionService } from './registry/function-service.js';
import { RegistryStore } from './registry/store.js';

export interface Daemon {
  readonly app: FastifyInstance;
  readonly config: LoadedConfig;
  readonly functions: FunctionService;
  readonly manager: ExecutionManager;
  readonly logger: Logger;
  /** http://host:port once listening. */
  readonly url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Default true; tests may use app.inject() without a socket. */
  listen?: boolean;
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
    if (config.using_demo_keys) {
      logger.warn('no api_keys configured: the public quick-start keys demo-key and admin-key are in force; run `faasd --create-config` and start with -c');
    }
    const store = new RegistryStore(config.system.registry_path);
    closers.push(() => store.close());
    logger.info({ registry: config.system.registry_path }, 'registry open');

    const code = new CodeStore(config.system.function_storage_path);
    const { manager } = await setUpExecution(config, logger);
    closers.push(() => manager.close());
    const functions = new FunctionService({
      store,
      code,
      defaultMode: config.system.default_mode,
      maxCodeSize: config.system.max_code_size,
      logger,
      lifecycle: manager,
    });
    await functions.syncDeclared(config.declared);
    // Pools for every registered function; min_instances start warming now.
    for (const rec of functions.list()) await manager.deployed(rec, functions.codeDir(rec));

    const app = await buildApp({ config, functions, logger, execution: manager });
    closers.push(() => app.close());

    let url = '';
    if (opts.listen !== false) {
      url = await app.listen({ host: config.system.api_gateway_host, port: config.system.api_gateway_port });
      logger.info({ url, mode: config.system.default_mode, isolation: config.system.process_isolation_level }, 'faasd listening');
    }
    let closed: Promise<void> | null = null;
    return {
      app,
      config,
      functions,
      manager,
      logger,
      url,
      close: () => (closed ??= closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
