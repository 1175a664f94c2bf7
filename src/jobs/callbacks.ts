// Result callbacks (X-Callback-Url): when a job ends, its result is POSTed to the URL its caller
// gave, as OpenFaaS does: the function's body as the body, X-Faas-Invocation-Id, X-Faas-Status
// and X-Faas-Function-Status as headers. A 2xx answer delivers it; anything else is retried with
// backoff. The state lives in the job's row (pending from the transaction that ends the job), so
// deliveries survive a restart; the job's own status never depends on them.
//
// A callback is a request the caller makes faasd send from inside its network: server-side
// request forgery. By default it may not reach loopback, link-local, private or CGNAT addresses;
// async.callback_allowed_hosts opens hosts or networks deliberately. The check runs at enqueue
// for a literal address, and at every delivery against each address the name resolves to, and
// the connection is pinned to the address that passed (a name that resolves to a public address
// when checked and to 127.0.0.1 when connecting, DNS rebinding, gets nowhere).
import { coalesced } from './coalesced.js';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Logger } from 'pino';
import type { AsyncDefaults } from '../config/schema.js';
import { badRequest } from '../errors.js';
import type { Job, JobStore } from './job-store.js';

export const CALLBACK_URL_MAX = 2048;
/** Deliveries under way at once. */
const MAX_IN_FLIGHT = 8;
/** Wake-up when nothing else wakes the sender (a missed kick, pending callbacks after a boot). */
const POLL_MS = 1000;

type Family = 'ipv4' | 'ipv6';
const family = (address: string): Family => (net.isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** Closed by default. IPv4-mapped IPv6 (::ffff:127.0.0.1) matches the IPv4 ranges: BlockList maps it. */
const BLOCKED: readonly (readonly [cidr: string, what: string])[] = [
  ['0.0.0.0/8', 'unspecified'],
  ['127.0.0.0/8', 'loopback'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['169.254.0.0/16', 'link-local'],
  ['100.64.0.0/10', 'shared address space (CGNAT)'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  // IPv4-compatible (deprecated): ::7f00:1 is 127.0.0.1 to some stacks.
  ['::/96', 'IPv4-compatible'],
  ['fe80::/10', 'link-local'],
  ['fc00::/7', 'private (unique local)'],
];

function subnet(list: net.BlockList, cidr: string): void {
  const [addr, bits] = cidr.split('/') as [string, string | undefined];
  if (bits === undefined) list.addAddress(addr, family(addr));
  else list.addSubnet(addr, Number(bits), family(addr));
}

const BLOCKED_LISTS = BLOCKED.map(([cidr, what]) => {
  const list = new net.BlockList();
  subnet(list, cidr);
  return { cidr, what, list };
});

const HOW_TO_ALLOW = 'callbacks may not reach loopback, link-local or private addresses unless async.callback_allowed_hosts in faas_config.yaml lists the host or its network';

/** Every address a name resolves to (dns.lookup with `all`). */
export type Resolver = (host: string) => Promise<dns.LookupAddress[]>;
const systemResolver: Resolver = (host) => dns.promises.lookup(host, { all: true });

/** A delivery refused by the policy: final, not retried. */
class CallbackRefused extends Error {}

/** The URL's host as a name or an address: lower-case, no brackets, no trailing dot. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

export class CallbackPolicy {
  private readonly names = new Set<string>();
  private readonly nets = new net.BlockList();

  /** `allowed`: async.callback_allowed_hosts as config/load.ts normalised it. */
  constructor(allowed: readonly string[]) {
    for (const rule of allowed) {
      if (rule.includes('/') || net.isIP(rule)) subnet(this.nets, rule);
      else this.names.add(rule);
    }
  }

  /** Why the address may not be a callback's target, or null when it may. */
  refusal(address: string): string | null {
    if (this.nets.check(address, family(address))) return null;
    const hit = BLOCKED_LISTS.find((b) => b.list.check(address, family(address)));
    return hit ? `${address} is in ${hit.cidr} (${hit.what})` : null;
  }

  /**
   * The enqueue-time check of an X-Callback-Url value: its shape, and the policy when its host
   * is an address (a name is checked when it is resolved, at each delivery). Returns the URL to
   * store; throws 400 naming the header.
   */
  check(raw: string): string {
    const bad = (why: string) => badRequest('X-Callback-Url', `X-Callback-Url ${why}`);
    if (raw.length > CALLBACK_URL_MAX) throw bad(`is ${raw.length} characters long; at most ${CALLBACK_URL_MAX} are accepted`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw bad('must be an absolute http:// or https:// URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`must be an http:// or https:// URL, not ${url.protocol}`);
    if (url.username || url.password) throw bad('must not carry credentials (user:password@); put a token in its path or query instead');
    const host = hostOf(url);
    if (!host) throw bad('has no host');
    if (net.isIP(host)) {
      const why = this.refusal(host);
      if (why) throw bad(`is refused: ${why}; ${HOW_TO_ALLOW}`);
    }
    return url.href;
  }

  /** The address a delivery connects to: the first of the name's addresses the policy allows. */
  async target(url: URL, resolve: Resolver): Promise<dns.LookupAddress> {
    const host = hostOf(url);
    const addresses = await resolve(host);
    if (addresses.length === 0) throw new Error(`${host} resolves to no address`);
    // A name listed in async.callback_allowed_hosts is trusted with whatever it resolves to.
    if (this.names.has(host)) return addresses[0]!;
    const allowed = addresses.find((a) => this.refusal(a.address) === null);
    if (allowed) return allowed;
    const why = addresses.map((a) => this.refusal(a.address)).join(', ');
    throw new CallbackRefused(net.isIP(host) ? `refused: ${why}; ${HOW_TO_ALLOW}` : `refused: ${host} resolves only to refused addresses (${why}); ${HOW_TO_ALLOW}`);
  }
}

export interface CallbackSenderOptions {
  store: JobStore;
  policy: CallbackPolicy;
  /** callback_max_attempts, callback_initial_backoff, callback_max_backoff, callback_timeout. */
  defaults: AsyncDefaults;
  logger: Logger;
  /** Name resolution (tests may pass their own); dns.lookup by default. */
  resolve?: Resolver;
}

function header(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/** The POST a job's callback makes: the function's answer, or the error JSON of a failed job. */
function callbackRequest(job: Job, attempt: number): { headers: Record<string, string>; body: Buffer } {
  const body = job.result ? job.result.body : Buffer.from(JSON.stringify(job.error ?? {}));
  const headers: Record<string, string> = {
    'content-type': (job.result ? header(job.result.headers, 'content-type') : 'application/json') ?? 'application/octet-stream',
    'content-length': String(body.length),
    'user-agent': 'faasd-callback',
    'x-faas-invocation-id': job.id,
    'x-faas-function': job.function,
    'x-faas-status': job.status,
    'x-faas-function-status': String(job.result?.status ?? job.error?.status ?? 500),
    'x-faas-callback-attempt': String(attempt),
  };
  if (job.result?.truncated) headers['x-faas-result-truncated'] = 'true';
  return { headers, body };
}

export class CallbackSender {
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = true;
  private readonly soon = coalesced(() => this.pump());
  private stopping: Promise<void> | null = null;
  private readonly resolve: Resolver;

  constructor(private readonly opts: CallbackSenderOptions) {
    this.resolve = opts.resolve ?? systemResolver;
  }

  /** Boot: callbacks left pending by the last run are delivered from now on. */
  start(): void {
    this.stopped = false;
    this.pump();
  }

  /** A job with a callback ended: deliver now rather than at the next poll (a burst costs one pass). */
  kick(): void {
    // Coalesced: a burst costs one pass, not one each.
    if (!this.stopped) this.soon();
  }

  /** No new delivery starts; resolves when those under way have ended (each within callback_timeout). */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stopping ??= Promise.all([...this.inFlight.values()]).then(() => undefined);
    return this.stopping;
  }

  private wakeIn(ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + ms;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.pump();
    }, ms);
    this.timer.unref();
  }

  private pump(): void {
    if (this.stopped) return;
    try {
      const room = MAX_IN_FLIGHT - this.inFlight.size;
      // Those under way are still pending: ask for enough to find `room` others.
      const due = room > 0 ? this.opts.store.dueCallbacks(Date.now(), MAX_IN_FLIGHT) : [];
      for (const job of due) {
        if (this.inFlight.size >= MAX_IN_FLIGHT) break;
        if (this.inFlight.has(job.id)) continue;
        const done = this.deliver(job)
          .catch((e: unknown) => this.opts.logger.error({ err: e, job: job.id }, 'callback bookkeeping failed'))
          .finally(() => {
            this.inFlight.delete(job.id);
            this.kick();
          });
        this.inFlight.set(job.id, done);
      }
    } catch (e) {
      this.opts.logger.error({ err: e }, 'callback dispatch failed; retrying shortly');
    }
    this.wakeIn(POLL_MS);
  }

  private async deliver(job: Job): Promise<void> {
    const { store, logger, defaults } = this.opts;
    const attempt = job.callback.attempts + 1;
    const log = { job: job.id, function: job.function, attempt };
    let error: string;
    let final = false;
    try {
      const status = await this.send(job, attempt);
      if (status >= 200 && status < 300) {
        store.recordCallback(job.id, attempt, Date.now(), { status: 'delivered' });
        logger.info({ ...log, status }, 'callback delivered');
        return;
      }
      error = `the callback endpoint answered ${status}`;
    } catch (e) {
      final = e instanceof CallbackRefused;
      error = (e as Error).message;
    }
    const now = Date.now();
    if (final || attempt >= defaults.callback_max_attempts) {
      store.recordCallback(job.id, attempt, now, { status: 'failed', error });
      logger.warn({ ...log, error }, final ? 'callback refused' : 'callback given up after its last attempt');
      return;
    }
    // Exponential backoff with equal jitter, as the dispatcher's retries.
    const base = Math.min(defaults.callback_max_backoff, defaults.callback_initial_backoff * 2 ** (attempt - 1));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    store.recordCallback(job.id, attempt, now, { status: 'pending', nextAt: now + delay, error });
    logger.info({ ...log, error, retry_in_ms: delay }, 'callback failed; retrying');
    this.wakeIn(delay);
  }

  /** One delivery: resolves to the endpoint's status code. */
  private async send(job: Job, attempt: number): Promise<number> {
    const url = new URL(job.callbackUrl!);
    const timeoutMs = this.opts.defaults.callback_timeout;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const timedOut = () => new Error(`no answer within ${timeoutMs} ms (async.callback_timeout)`);
    try {
      const aborted = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(timedOut()), { once: true }));
      aborted.catch(() => {});
      const target = await Promise.race([this.opts.policy.target(url, this.resolve), aborted]).catch((e: unknown) => {
        const code = (e as NodeJS.ErrnoException).code;
        throw code ? new Error(`cannot resolve ${url.hostname}: ${code}`) : e;
      });
      const { headers, body } = callbackRequest(job, attempt);
      return await new Promise<number>((resolve, reject) => {
        const req = (url.protocol === 'https:' ? https : http).request(
          {
            method: 'POST',
            protocol: url.protocol,
            hostname: hostOf(url),
            ...(url.port ? { port: Number(url.port) } : {}),
            path: `${url.pathname}${url.search}`,
            headers,
            // A fresh connection per delivery, made to the address that was checked: a pooled
            // socket or a second resolution could reach another.
            agent: false,
            lookup: (_host, options, cb) => (options.all ? cb(null, [target]) : cb(null, target.address, target.family)),
            signal: ac.signal,
          },
          (res) => {
            res.resume();
            res.once('end', () => resolve(res.statusCode ?? 0));
            res.once('error', (e) => reject(ac.signal.aborted ? timedOut() : e));
          },
        );
        req.once('error', (e) => reject(ac.signal.aborted ? timedOut() : e));
        req.end(body);
      });
    } finally {
      clearTimeout(timer);
    }
  }
}
