// The `faasd` command: serve (default), --check-system, --create-config, and the client
// subcommands (deploy, invoke, ls, ...: client/) that talk to a running daemon over HTTP.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { addClientCommands } from './client/index.js';
import type { LoadedConfig } from './config/load.js';
import type { Daemon } from './daemon.js';

const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected an integer from 0 to 65535');
  return n;
}

interface CliOptions {
  config?: string;
  host?: string;
  port?: number;
  debug?: boolean;
  checkSystem?: boolean;
  createConfig?: string | boolean;
  force?: boolean;
}

// The daemon's modules are imported when the daemon's side runs: a client command (`faasd ls`)
// starts in a third of the time without them.

async function createConfigFile(target: string, force: boolean): Promise<number> {
  const [{ localRuntimeImages }, { sampleConfig }] = await Promise.all([import('./system/docker-probe.js'), import('./config/sample.js')]);
  if (fs.existsSync(target) && !force) {
    process.stderr.write(`faasd: ${target} already exists; not overwriting it (use --force to replace it)\n`);
    return 1;
  }
  // Runtime images built on this host win over registry images it may not be able to pull.
  const images = await localRuntimeImages();
  const { text, keys } = sampleConfig(images);
  fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
  // 0600: the file holds plain-text keys.
  fs.writeFileSync(target, text, { mode: 0o600 });
  fs.chmodSync(target, 0o600);
  process.stdout.write(
    `Wrote ${target}. These keys are shown once; store them now:\n` +
      `  app        (invoke)                          ${keys.invokeKey}\n` +
      `  deployer   (invoke, manage)                  ${keys.manageKey}\n` +
      `  ops        (invoke, manage, admin, metrics)  ${keys.adminKey}   (only its SHA-256 is in the file)\n` +
      `  prometheus (metrics)                         ${keys.metricsKey}   (only its SHA-256 is in the file; for Prometheus' credentials_file)\n` +
      (images.python || images.node ? `Container mode uses the local runtime images ${[images.python, images.node].filter(Boolean).join(', ')}.\n` : '') +
      `Start with: faasd -c ${target}\n`,
  );
  return 0;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('faasd')
    .usage('[options]            serve (the daemon)\n       faasd <command> [options]  talk to a running daemon')
    .description('Single-node Function-as-a-Service daemon (process and container modes), and its command-line client')
    .version(pkg.version)
    .option('-c, --config <file>', 'load this faas_config.yaml (or set FAAS_CONFIG_FILE)')
    .option('--host <host>', 'listen address (overrides system.api_gateway_host)')
    .option('-p, --port <port>', 'listen port (overrides system.api_gateway_port and FAAS_API_PORT)', parsePort)
    .option('--debug', 'debug logging')
    .option('--check-system', 'check what this host supports and exit')
    .option('--create-config [file]', 'write a commented sample config with fresh keys (default ./faas_config.yaml)')
    .option('--force', 'with --create-config: overwrite an existing file')
    // The daemon's options go before a command, a command's after it: `faasd deploy -f x` is the
    // command's -f, never the daemon's.
    .enablePositionalOptions()
    .showHelpAfterError()
    .action(async () => {
      if (program.args.length > 0) program.error(`error: unknown command '${program.args[0]}' (faasd --help lists the commands)`);
      await serve(program.opts<CliOptions>());
    });
  program.addHelpText(
    'after',
    '\nQuick start: `faasd` in one terminal; in another, `faasd deploy hello handler.py`\nthen `faasd invoke hello -d \'{"name": "you"}\'`. `faasd <command> --help` for more.',
  );
  addClientCommands(program);
  // After the commands are made (they copy the root's settings): a stray word reaches the
  // action above, which names it, instead of commander's "too many arguments".
  program.allowExcessArguments();
  await program.parseAsync(argv);
}

/** Bare `faasd`, `--check-system` and `--create-config`: the daemon's side. */
async function serve(opts: CliOptions): Promise<void> {
  if (opts.createConfig !== undefined) {
    const target = typeof opts.createConfig === 'string' ? opts.createConfig : 'faas_config.yaml';
    process.exitCode = await createConfigFile(target, Boolean(opts.force));
    return;
  }

  const [{ ConfigError, loadConfig }, { BUILTIN_DRIVERS }, { startDaemon }, { FaasError }, { runSystemChecks }] = await Promise.all([
    import('./config/load.js'),
    import('./execution/drivers/index.js'),
    import('./daemon.js'),
    import('./errors.js'),
    import('./system/check-system.js'),
  ]);
  let config: LoadedConfig;
  try {
    config = loadConfig({ file: opts.config, flags: { host: opts.host, port: opts.port, debug: opts.debug }, modes: BUILTIN_DRIVERS.map((d) => d.mode) });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`faasd: invalid configuration: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }

  if (opts.checkSystem) {
    process.exitCode = await runSystemChecks(config, (line) => process.stdout.write(`${line}\n`));
    return;
  }

  // Handlers first: a signal during boot stops the daemon as soon as it is up (with nothing
  // left behind), instead of killing it half-made.
  let daemon: Daemon | null = null;
  /** A stop was asked for (any signal); a second SIGTERM/SIGINT after a first one exits at once. */
  let stopping = false;
  let firstStopAt = 0;
  const stop = (d: Daemon) =>
    d.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  const onSignal = (sig: NodeJS.Signals) => {
    // SIGHUP (the terminal closed) often comes with the SIGTERM of the program that ran faasd
    // in that terminal, in either order: it starts a stop, never forces one. And a supervisor
    // may deliver its SIGTERM twice at once (script(1) does): only a second SIGTERM/SIGINT a
    // second or more after the first, a person insisting, exits at once.
    if (sig !== 'SIGHUP') {
      if (firstStopAt === 0) firstStopAt = Date.now();
      else if (Date.now() - firstStopAt >= 1000) {
        daemon?.logger.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(130);
      }
    }
    if (stopping) return;
    stopping = true;
    if (!daemon) return; // still booting: handled once startDaemon returns
    daemon.logger.info({ signal: sig }, 'shutting down');
    void stop(daemon);
  };
  // SIGHUP: the terminal faasd ran in closed; stop as cleanly as on SIGTERM.
  const stopSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  for (const sig of stopSignals) process.on(sig, onSignal);
  try {
    daemon = await startDaemon(config);
  } catch (e) {
    const msg = e instanceof FaasError ? e.message : (e as Error).message;
    process.stderr.write(`faasd: failed to start: ${msg}\n`);
    process.exitCode = 1;
    for (const sig of stopSignals) process.off(sig, onSignal);
    return;
  }
  if (stopping) {
    daemon.logger.info('a stop signal came during start-up: shutting down');
    void stop(daemon);
  }
}
