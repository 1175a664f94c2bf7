// The client subcommands of `faasd` (deploy, invoke, ls, ...): they talk to a running daemon
// over its HTTP API and nothing else. Each command is one module under commands/; this file
// wires them to commander and turns every failure into one line on stderr and exit code 1.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { deployCommand } from './commands/deploy.js';
import { describeCommand } from './commands/describe.js';
import { instancesCommand } from './commands/instances.js';
import { invokeCommand } from './commands/invoke.js';
import { loginCommand } from './commands/login.js';
import { logsCommand } from './commands/logs.js';
import { lsCommand } from './commands/ls.js';
import { rmCommand } from './commands/rm.js';
import { secretLsCommand, secretRmCommand, secretSetCommand } from './commands/secret.js';
import { statsCommand } from './commands/stats.js';
import { rollbackCommand, versionsCommand } from './commands/versions.js';
import { durationMs } from './duration.js';
import { ClientError, FaasClient } from './http.js';
import { Output } from './output.js';
import { resolveConnection } from './settings.js';

interface GlobalFlags {
  gateway?: string;
  key?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function int(flag: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} takes a whole number${min > 0 ? ` from ${min}` : ''}`);
    return n;
  };
}

/** --timeout 30, 30s, 2m -> seconds. */
function seconds(v: string): number {
  const ms = durationMs(v);
  if (ms === null || ms <= 0) throw new InvalidArgumentError('expected seconds (30) or a duration (30s, 2m)');
  return ms / 1000;
}

/** Prints a failure as `faasd: <CODE>: <message>`; never a stack trace (FAASD_DEBUG=1 adds it for a bug). */
export function reportError(e: unknown, out: Output): number {
  if (e instanceof ClientError) {
    if (out.json && e.body) out.data(e.body);
    out.note(`faasd: ${e.code}: ${e.message}`, 'red');
    return 1;
  }
  out.note(`faasd: InternalError: ${(e as Error)?.message ?? String(e)} (a bug in the faasd client; FAASD_DEBUG=1 shows where)`, 'red');
  if (process.env.FAASD_DEBUG) out.note(String((e as Error)?.stack ?? e));
  return 1;
}

/** How `faasd --help` shows each command (one line each): its name and arguments. */
const TERMS = new Map<string, string>();

/** A client subcommand: the connection flags, --json, and one error path. */
function clientCommand(program: Command, spec: string, term: string, summary: string, description = summary) {
  const cmd = program.command(spec);
  TERMS.set(cmd.name(), term);
  return cmd
    .summary(summary)
    .description(description)
    .option('--gateway <url>', 'faasd to talk to (default: FAASD_URL, the login file, http://127.0.0.1:8000)')
    .option('--key <key>', 'API key (default: FAASD_API_KEY, the login file, the quick-start key demo-key)')
    .option('--json', 'JSON output for scripts');
}

/**
 * Ends the process once stdout and stderr are flushed: fetch keeps idle keep-alive connections
 * to the daemon open for seconds, which would hold a finished command's exit that long.
 */
async function exit(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((r) => s.write('', () => r()))));
  process.exit(code);
}

type Action = (client: FaasClient, out: Output, flags: Record<string, unknown>, args: unknown[]) => Promise<number>;

function run(action: Action) {
  return async (...argv: unknown[]) => {
    const cmd = argv[argv.length - 1] as Command;
    const flags = cmd.opts<GlobalFlags & Record<string, unknown>>();
    const out = new Output({ json: flags.json });
    let code: number;
    try {
      const client = new FaasClient(resolveConnection({ gateway: flags.gateway, key: flags.key }));
      code = await action(client, out, flags, argv.slice(0, -2));
    } catch (e) {
      code = reportError(e, out);
    }
    await exit(code);
  };
}

export function addClientCommands(program: Command): void {
  program.configureHelp({ subcommandTerm: (cmd) => TERMS.get(cmd.name()) ?? cmd.name() });

  clientCommand(
    program,
    'deploy [args...]',
    'deploy NAME FILE|DIR',
    'create or update a function (-f stack.yaml: many)',
    'Create or update a function from a source file (sent as JSON) or a directory (uploaded as .tar.gz), or every function of a stack file (faas_config.yaml functions: schema), all or the NAMEs given.',
  )
    .usage('NAME FILE|DIR [options]\n       faasd deploy -f stack.yaml [NAME...]')
    .option('-f, --file <stack.yaml>', 'deploy the functions of a stack file (faas_config.yaml functions: schema), all or the NAMEs given')
    .option('--runtime <runtime>', 'python or node (default: from the file extension, or the files in the directory)')
    .option('--handler <handler>', 'entry point, e.g. handle or main.handle')
    .option('--mode <mode>', 'execution mode: process or container')
    .option('--memory <size>', 'memory limit, e.g. 128Mi')
    .option('--timeout <seconds>', 'timeout per call (30, 30s, 2m)', seconds)
    .option('--env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('--min <n>', 'instances kept warm', int('--min'))
    .option('--max <n>', 'instances at most', int('--max', 1))
    .action(run((c, o, f, [args]) => deployCommand(c, o, args as string[], f)));

  clientCommand(program, 'invoke <name>', 'invoke NAME', 'call a function: body from -d, -d @file or stdin')
    .option('-d, --data <body>', 'request body: JSON or text, @file to read a file, @- for stdin (default: stdin when it is not a terminal)')
    .option('-X, --method <method>', 'HTTP method (default POST)')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable)", collect)
    .option('--path <path>', 'subpath (and query) passed to the function, e.g. /users/7?full=1')
    .option('--async', 'queue the call (POST /async/NAME) and print its invocation id')
    .option('-v, --verbose', 'status, timing, x-faas-start and instance on stderr')
    .action(run((c, o, f, [name]) => invokeCommand(c, o, name as string, f)));

  clientCommand(program, 'ls', 'ls', 'list functions: instances, invocations, errors, p95').action(run((c, o) => lsCommand(c, o)));

  clientCommand(program, 'describe <name>', 'describe NAME', 'one function in full: config, files, statistics').action(run((c, o, _f, [name]) => describeCommand(c, o, name as string)));

  clientCommand(program, 'logs <name>', 'logs NAME', 'what a function printed; --follow streams it')
    .option('--since <when>', 'only lines since a duration ago (10m, 2h) or an ISO time')
    .option('--limit <n>', 'at most this many lines of backlog (default 100)', int('--limit', 1))
    .option('-f, --follow', 'keep printing new lines until Ctrl-C or the function is deleted')
    .action(run((c, o, f, [name]) => logsCommand(c, o, name as string, f)));

  clientCommand(program, 'rm <names...>', 'rm NAME...', 'delete functions').action(run((c, o, _f, [names]) => rmCommand(c, o, names as string[])));

  clientCommand(program, 'instances [name]', 'instances [NAME]', 'running instances; --stop ID stops one (admin)')
    .option('--stop <id>', 'stop this instance (repeatable; needs an admin key)', collect)
    .action(run((c, o, f, [name]) => instancesCommand(c, o, name as string | undefined, (f.stop as string[] | undefined) ?? [])));

  clientCommand(program, 'stats [name]', 'stats [NAME]', "platform statistics, or one function's").action(run((c, o, _f, [name]) => statsCommand(c, o, name as string | undefined)));

  clientCommand(program, 'versions <name>', 'versions NAME', "a function's versions: who, when, what changed").action(run((c, o, _f, [name]) => versionsCommand(c, o, name as string)));

  clientCommand(program, 'rollback <name>', 'rollback NAME', 'make an earlier version live again (--to N)')
    .option('--to <version>', 'the version to go back to (default: the retained version before the live one)', int('--to', 1))
    .action(run((c, o, f, [name]) => rollbackCommand(c, o, name as string, f.to as number | undefined)));

  // faasd secret ls | set | rm: the value from a file or stdin, never the command line.
  TERMS.set('secret', 'secret ls|set|rm');
  const secret = program.command('secret').summary('list, set (admin) and remove (admin) secrets');
  clientCommand(secret, 'ls', 'ls', 'secrets: name, the functions that use them, last change (never values)').action(run((c, o) => secretLsCommand(c, o)));
  clientCommand(secret, 'set <name>', 'set NAME', 'create or change a secret: its value from --from-file FILE or stdin (bytes as they are)')
    .option('--from-file <file>', "the value: this file's bytes (default: stdin)")
    .action(run((c, o, f, [name]) => secretSetCommand(c, o, name as string, f.fromFile as string | undefined)));
  clientCommand(secret, 'rm <names...>', 'rm NAME...', 'delete secrets no function lists').action(run((c, o, _f, [names]) => secretRmCommand(c, o, names as string[])));

  TERMS.set('login', 'login');
  program
    .command('login')
    .summary('save a gateway and key for the other commands')
    .description('check a gateway and key, and save them for the other commands in ~/.config/faasd/client.json (mode 0600)')
    .option('--gateway <url>', 'faasd to log in to (default: FAASD_URL, http://127.0.0.1:8000)')
    .addOption(new Option('--key <key>', 'the key (visible in the process list and shell history: prefer --key-stdin)').hideHelp())
    .option('--key-stdin', 'read the key from stdin')
    .option('--json', 'JSON output for scripts')
    .action(async (flags: GlobalFlags & { keyStdin?: boolean }) => {
      const out = new Output({ json: flags.json });
      let code: number;
      try {
        code = await loginCommand(out, flags);
      } catch (e) {
        code = reportError(e, out);
      }
      await exit(code);
    });
}
