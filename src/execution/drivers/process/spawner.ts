// A small spawner process: the daemon's own spawn() forks a ~130 MB Node process (page
// tables copied, then copy-on-write faults in the daemon until the child execs), which cost
// a fully cold start ~10-20 ms on this class of machine. The spawner is a tiny Python
// process started at boot (python3 is a dependency already) that starts the sandboxes for
// the daemon (a fork of a ~10 MB process, then exec) and reports back over its stdout.
//
// The daemon keeps what it had with spawn(): the child's pid (a real host pid: kill of the
// process group and cgroup work unchanged), its stdout/stderr (relayed by the spawner) and
// its exit code or signal ('exit' event, after the output read before it). The child is
// spawned exactly like Node does it: new session (detached), stdin /dev/null, stdout and
// stderr pipes, every signal disposition back to default, no other fd inherited, the
// environment given and nothing else.
//
// Lifetimes. The spawner reads its requests from the daemon on stdin: at EOF (the daemon
// exited, however it died: the kernel closes its pipes, also on SIGKILL) it SIGKILLs every
// child's process group and exits. At `strict` the child is bwrap with --die-with-parent:
// its parent is now the spawner, so if the spawner itself dies the sandboxes die with it.
// If the spawner dies while the daemon lives, the daemon kills the process groups of the
// children it knew, reports them exited, logs once and spawns from itself from then on.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from 'pino';

/** What the process driver needs of a started child (a ChildProcess has all of it). */
export interface ChildHandle {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
}

export interface SpawnOptions {
  env: Record<string, string>;
  cwd: string;
}

// Requests (stdin, one JSON per line): {"op":"spawn","id","cmd","argv","env","cwd"} |
// {"op":"stem","id","procs"} fork a stem that joins these cgroup.procs files and waits |
// {"op":"go","id","cmd","argv","env","cwd"} the stem sets rlimits and execs | {"op":"drop","id"}.
// Events (stdout, one JSON per line): {"id","ready":pid} a stem has joined its cgroup |
// {"id","pid"} started | {"id","err","code"} not started |
// {"id","fd","d"} output (base64) | {"id","fd","e":1} end of that output |
// {"id","x":code|null,"s":signal|null} exited (after the output readable at that moment).
const SPAWNER_PY = String.raw`# faasd-spawner
import os, sys, json, select, signal, errno, resource
from binascii import b2a_base64
SIGS = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]
NULL = os.open('/dev/null', os.O_RDONLY)
ep = select.epoll()
os.set_blocking(0, False)
ep.register(0, select.EPOLLIN)
kids = {}   # pidfd -> (id, pid)
pipes = {}  # read fd -> (id, 1|2)
stems = {}  # id -> [pid, control write fd, status read fd, state]
status = {} # status read fd -> id
def send(o):
    b = (json.dumps(o, separators=(',', ':')) + '\n').encode()
    while b:
        b = b[os.write(1, b):]
def watch(i, pid, r1, r2):
    for fd, n in ((r1, 1), (r2, 2)):
        os.set_blocking(fd, False)
        pipes[fd] = (i, n)
        ep.register(fd, select.EPOLLIN)
    pfd = os.pidfd_open(pid)
    kids[pfd] = (i, pid)
    ep.register(pfd, select.EPOLLIN)
def start(q):
    # fork + exec rather than posix_spawn: glibc's posix_spawn leaves its two internal signals
    # ignored in the child, and an ignored signal stays ignored across exec.
    i = q['id']
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    er, ew = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(NULL, 0)
            isolate({0, w1, w2, ew})
            os.setsid()
        except BaseException as e:
            fail_child(ew, e)
        become(q, w1, w2, ew, False)
    for f in (w1, w2, ew):
        os.close(f)
    err = b''
    while True:
        d = os.read(er, 65536)
        if not d:
            break
        err += d
    os.close(er)
    if err:
        os.waitpid(pid, 0)
        os.close(r1); os.close(r2)
        msg, code = unwhy(err)
        send({'id': i, 'err': msg, 'code': code})
        return
    watch(i, pid, r1, r2)
    send({'id': i, 'pid': pid})
def isolate(keep):
    # Only the fds it needs stay open (all of Python's are close-on-exec anyway, but a parked
    # stem must not hold another stem's control pipe or the daemon's pipes).
    keep = keep | {0}
    for f in os.listdir('/proc/self/fd'):
        if int(f) not in keep:
            try:
                os.close(int(f))
            except OSError:
                pass
def fail_child(sw, e):
    try:
        os.write(sw, why(e))
    finally:
        os._exit(127)
def why(e):
    # b'e' CODE TAB message
    code = errno.errorcode.get(getattr(e, 'errno', None) or 0, '')
    return ('e' + code + '\t' + (getattr(e, 'strerror', None) or str(e))).encode()
def unwhy(d):
    code, _, msg = d[1:].decode(errors='replace').partition('\t')
    return msg, code
def become(g, w1, w2, sw, limits):
    try:
        os.dup2(w1, 1); os.dup2(w2, 2)
        os.close(w1); os.close(w2)
        os.chdir(g['cwd'])
        if limits:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        for n in SIGS:
            try:
                signal.signal(n, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execve(g['cmd'], g['argv'], g['env'])
    except BaseException as e:
        fail_child(sw, e)
def stem_child(procs, w1, w2, cr, sw):
    # A fork of this spawner, parked in the instance's cgroup until told what to exec.
    try:
        os.dup2(NULL, 0)
        isolate({w1, w2, cr, sw})
        os.dup2(0, 1); os.dup2(0, 2)
        os.setsid()
        for f in procs:
            fd = os.open(f, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        os.write(sw, b'k')
    except BaseException as e:
        try:
            os.write(sw, why(e))
        finally:
            os._exit(125)
    try:
        b = b''
        while not b.endswith(b'\n'):
            d = os.read(cr, 65536)
            if not d:
                os._exit(0)
            b += d
        g = json.loads(b)
        os.close(cr)
    except BaseException as e:
        fail_child(sw, e)
    become(g, w1, w2, sw, True)
def make_stem(q):
    i = q['id']
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    cr, cw = os.pipe()
    sr, sw = os.pipe()
    pid = os.fork()
    if pid == 0:
        stem_child(q['procs'], w1, w2, cr, sw)
        os._exit(127)
    for f in (w1, w2, cr, sw):
        os.close(f)
    watch(i, pid, r1, r2)
    stems[i] = [pid, cw, sr, 'joining']
    status[sr] = i
    ep.register(sr, select.EPOLLIN)
def go(q):
    st = stems.get(q['id'])
    if not st or st[3] != 'parked':
        send({'id': q['id'], 'err': 'no such stem', 'code': 'ESRCH'})
        return
    st[3] = 'going'
    b = (json.dumps(q) + '\n').encode()
    try:
        while b:
            b = b[os.write(st[1], b):]
    except OSError:
        pass
    os.close(st[1]); st[1] = -1
def drop(q):
    st = stems.get(q['id'])
    if st and st[1] >= 0:
        os.close(st[1]); st[1] = -1
def on_status(fd):
    i = status[fd]
    st = stems[i]
    d = os.read(fd, 65536)
    if d == b'k' and st[3] == 'joining':
        st[3] = 'parked'
        send({'id': i, 'ready': st[0]})
        return
    ep.unregister(fd); os.close(fd); del status[fd]
    if st[1] >= 0:
        os.close(st[1])
    del stems[i]
    if d.startswith(b'e'):
        msg, code = unwhy(d)
        send({'id': i, 'err': msg, 'code': code})
    elif d or st[3] != 'going':
        send({'id': i, 'err': 'the stem exited', 'code': ''})
    else:
        send({'id': i, 'pid': st[0]})
def drain(fd):
    i, n = pipes[fd]
    while True:
        try:
            d = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not d:
            ep.unregister(fd); os.close(fd); del pipes[fd]
            send({'id': i, 'fd': n, 'e': 1})
            return
        send({'id': i, 'fd': n, 'd': b2a_base64(d, newline=False).decode()})
def reap(pfd):
    i, pid = kids.pop(pfd)
    ep.unregister(pfd); os.close(pfd)
    _, st = os.waitpid(pid, 0)
    for fd in [f for f, v in status.items() if v == i]:
        on_status(fd)
    for fd in [f for f, v in pipes.items() if v[0] == i]:
        drain(fd)
    if os.WIFSIGNALED(st):
        send({'id': i, 'x': None, 's': os.WTERMSIG(st)})
    else:
        send({'id': i, 'x': os.WEXITSTATUS(st), 's': None})
OPS = {'spawn': start, 'stem': make_stem, 'go': go, 'drop': drop}
buf = b''
while True:
    for fd, _ in ep.poll():
        if fd == 0:
            try:
                d = os.read(0, 65536)
            except BlockingIOError:
                continue
            if not d:
                for _, pid in kids.values():
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except OSError:
                        pass
                os._exit(0)
            buf += d
            *lines, buf = buf.split(b'\n')
            for line in lines:
                if line:
                    q = json.loads(line)
                    OPS[q['op']](q)
        elif fd in status:
            on_status(fd)
        elif fd in pipes:
            drain(fd)
        elif fd in kids:
            reap(fd)
`;

const ANSWER_MS = 10_000;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

class RemoteChild extends EventEmitter implements ChildHandle {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  exited = false;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  ends = 0;
}

interface Pending {
  child: RemoteChild;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A process forked by the spawner that has already joined an instance's cgroups and waits
 * to exec the instance: on cgroup v1 the first migration into a cgroup waits for an RCU
 * grace period (cgroup_threadgroup_rwsem), 10-20 ms on this class of VM, which a stem pays
 * ahead of the start that uses it.
 */
export interface Stem {
  readonly id: number;
  readonly pid: number;
}

/** Where a stem puts itself before its exec: the trampoline's work, done in Python. */
export interface StemExec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export class Spawner {
  private readonly proc: ChildProcess;
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly kids = new Map<number, RemoteChild>();
  /** Stems not started yet: they do not keep the daemon's event loop alive. */
  private readonly parked = new Set<number>();
  private dead = false;
  private closing = false;
  private readonly gone: Promise<void>;

  private constructor(
    python: string,
    private readonly logger: Logger,
  ) {
    // Its own session: a terminal's ^C reaches the daemon (which shuts down in order), not the
    // spawner. -I -S: no site, no PYTHON* variables; an empty environment.
    this.proc = spawn(python, ['-I', '-S', '-c', SPAWNER_PY], { env: {}, cwd: '/', stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => this.onData(d));
    let stderr = '';
    this.proc.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    this.proc.stdin!.on('error', () => undefined);
    this.gone = new Promise((resolve) => {
      this.proc.once('error', (err) => {
        this.fail(`could not start: ${err.message}`);
        resolve();
      });
      this.proc.once('exit', (code, signal) => {
        this.fail(`exited (${signal ?? `status ${code}`})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
        resolve();
      });
    });
    // The daemon's event loop waits for it only while it has children or requests pending (as
    // it would for children of its own); its pipes close when the daemon exits.
    this.proc.unref();
    for (const s of [this.proc.stdin, this.proc.stdout, this.proc.stderr]) (s as unknown as { unref?: () => void }).unref?.();
  }

  private refCount(): void {
    const out = this.proc.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (this.pending.size + this.kids.size - this.parked.size > 0) out.ref?.();
    else out.unref?.();
  }

  static start(python: string, logger: Logger): Spawner {
    return new Spawner(python, logger);
  }

  /** The spawner's own pid (tests). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  get available(): boolean {
    return !this.dead;
  }

  /**
   * Start `command` like spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'],
   * detached: true }) would. Resolves once the child has a pid (or, when it could not be
   * started, with a handle that emits 'error' as a ChildProcess does).
   */
  async spawn(command: string, args: string[], opts: SpawnOptions): Promise<ChildHandle> {
    if (this.dead) return localSpawn(command, args, opts);
    const id = this.nextId++;
    const child = new RemoteChild();
    const started = new Promise<void>((resolve, reject) => this.pending.set(id, { child, resolve, reject }));
    this.send({ op: 'spawn', id, cmd: command, argv: [command, ...args], env: opts.env, cwd: opts.cwd });
    this.refCount();
    try {
      await this.answered(started);
    } catch (err) {
      if ((err as { spawnerGone?: boolean }).spawnerGone) return localSpawn(command, args, opts);
      setImmediate(() => child.emit('error', err));
    }
    return child;
  }

  /** Fork a stem into the cgroups whose procs files are given; resolves once it has joined them. */
  async stem(procsFiles: string[]): Promise<Stem> {
    if (this.dead) throw new Error('the spawner is gone');
    const id = this.nextId++;
    const child = new RemoteChild();
    const joined = new Promise<void>((resolve, reject) => this.pending.set(id, { child, resolve, reject }));
    this.kids.set(id, child);
    this.send({ op: 'stem', id, procs: procsFiles });
    this.refCount();
    await this.answered(joined);
    this.parked.add(id);
    this.refCount();
    return { id, pid: child.pid! };
  }

  /**
   * The stem becomes the instance: rlimits as the trampoline sets them (no core files, 1024
   * open files, hard and soft), signal dispositions and mask back to default, stdout/stderr
   * to the relay, then exec. Returns at once (the pid is the stem's): a failed exec is
   * reported as a failed spawn is, by an 'error' event, then its 'exit'. Throws only when the
   * stem is known to be gone already (the caller then starts another way).
   */
  start(stem: Stem, exec: StemExec): ChildHandle {
    const child = this.kids.get(stem.id);
    if (this.dead || !child || child.exited || !this.parked.has(stem.id)) throw gone('the stem is gone');
    const fail = (err: Error) => setImmediate(() => child.emit('error', err));
    this.pending.set(stem.id, { child, resolve: () => undefined, reject: fail });
    this.parked.delete(stem.id);
    this.send({ op: 'go', id: stem.id, cmd: exec.command, argv: [exec.command, ...exec.args], env: exec.env, cwd: exec.cwd });
    this.refCount();
    return child;
  }

  /** An unused stem exits (it is waiting on a pipe the spawner then closes). */
  drop(stem: Stem): void {
    this.parked.delete(stem.id);
    if (!this.dead) this.send({ op: 'drop', id: stem.id });
  }

  /**
   * An answer the spawner owes within ANSWER_MS (it forks and execs, nothing slower): a
   * spawner that does not answer is stuck, and is killed (its children with it, bwrap
   * --die-with-parent) so that the daemon spawns for itself from then on.
   */
  private async answered(p: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!this.dead) {
          this.logger.warn({ waited_ms: ANSWER_MS }, 'process spawner did not answer: killing it');
          this.proc.kill('SIGKILL');
        }
        resolve();
      }, ANSWER_MS);
    });
    try {
      await Promise.race([p, stuck.then(() => p)]);
    } finally {
      clearTimeout(timer);
    }
  }

  private send(req: Record<string, unknown>): void {
    this.proc.stdin!.write(`${JSON.stringify(req)}\n`);
  }

  /** Stop the spawner (children still running are killed by it). */
  async close(): Promise<void> {
    this.closing = true;
    // Held until it has exited: the daemon's shutdown goes on after this (cgroups).
    this.proc.ref();
    this.proc.stdin!.end();
    await this.gone;
  }

  private onData(d: string): void {
    this.handle(d);
    this.refCount();
  }

  private handle(d: string): void {
    this.buf += d;
    let nl = this.buf.indexOf('\n');
    while (nl >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      nl = this.buf.indexOf('\n');
      if (line) this.onEvent(JSON.parse(line) as SpawnerEvent);
    }
  }

  private onEvent(ev: SpawnerEvent): void {
    if (ev.pid !== undefined || ev.err !== undefined || ev.ready !== undefined) {
      const p = this.pending.get(ev.id);
      if (!p) return;
      this.pending.delete(ev.id);
      const pid = ev.pid ?? ev.ready;
      if (pid !== undefined) {
        p.child.pid = pid;
        this.kids.set(ev.id, p.child);
        p.resolve();
      } else {
        p.reject(Object.assign(new Error(`spawn ${ev.code || 'failed'}: ${ev.err}`), { code: ev.code }));
      }
      return;
    }
    const child = this.kids.get(ev.id);
    if (!child) return;
    if (ev.fd !== undefined) {
      const stream = ev.fd === 1 ? child.stdout : child.stderr;
      if (ev.d !== undefined) stream.write(Buffer.from(ev.d, 'base64'));
      if (ev.e) {
        stream.end();
        child.ends++;
      }
    } else if ('x' in ev) {
      this.parked.delete(ev.id);
      this.exit(child, ev.x ?? null, ev.s == null ? null : (SIGNAL_NAMES.get(ev.s) ?? null));
      const p = this.pending.get(ev.id);
      if (p) {
        this.pending.delete(ev.id);
        p.reject(gone('the stem exited'));
      }
    }
    if (child.exited && child.ends === 2) {
      this.kids.delete(ev.id);
      this.parked.delete(ev.id);
    }
  }

  private exit(child: RemoteChild, code: number | null, signal: NodeJS.Signals | null): void {
    if (child.exited) return;
    child.exited = true;
    child.exitCode = code;
    child.signalCode = signal;
    child.emit('exit', code, signal);
  }

  private fail(why: string): void {
    if (this.dead) return;
    this.dead = true;
    if (!this.closing) this.logger.warn({ reason: why }, 'process spawner gone: starting instances from the daemon itself from now on');
    for (const p of this.pending.values()) p.reject(Object.assign(gone(`spawner ${why}`), { spawnerGone: true }));
    this.pending.clear();
    for (const child of this.kids.values()) {
      // At strict, bwrap died with its parent; at lower levels nothing did: kill the group.
      try {
        if (child.pid && !child.exited) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      if (!child.exited) this.exit(child, null, 'SIGKILL');
      child.stdout.end();
      child.stderr.end();
    }
    this.kids.clear();
  }
}

interface SpawnerEvent {
  id: number;
  pid?: number;
  ready?: number;
  err?: string;
  code?: string;
  fd?: 1 | 2;
  d?: string;
  e?: 1;
  x?: number | null;
  s?: number | null;
}

/** A stem (or the spawner) that went away before its start: the caller starts another way. */
function gone(message: string): Error {
  return Object.assign(new Error(message), { gone: true });
}

export function isGone(err: unknown): boolean {
  return (err as { gone?: boolean } | null)?.gone === true;
}

/** The daemon's own spawn(), with the same stdio and session as the spawner gives. */
export function localSpawn(command: string, args: string[], opts: SpawnOptions): ChildHandle {
  return spawn(command, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
}
