// /invoke/:name and /invoke/:name/*: any method, any content type, body passed as bytes.
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FaasError } from '../../errors.js';
import type { InvokeOutcome } from '../../execution/api.js';
import type { CallSignal } from '../../execution/pool/pool.js';
import { R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';
import { EMPTY_BODY, acceptRawBodies, forwardedHeaders, versionAsked } from './forwarded.js';

// Never taken from a function's answer: framing is the gateway's job, and x-faas-* are ours.
const DROP_RESPONSE = /^(content-length|transfer-encoding|connection|keep-alive|upgrade|trailer|x-faas-.*)$/i;

/**
 * The call's "client went away" signal: what the pool needs of an AbortSignal (CallSignal) at
 * a fraction of its cost per call (an AbortController is an EventTarget with its listener
 * objects; this is a field and a listener list that is mostly empty).
 */
class ClientGone implements CallSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] | null = null;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.#listeners;
    this.#listeners = null;
    if (listeners) for (const fn of listeners) fn();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.#listeners;
    if (!listeners) return;
    const i = listeners.indexOf(listener);
    if (i >= 0) listeners.splice(i, 1);
  }
}

const GONE = Symbol('faasd.clientGone');
type WithGone = ServerResponse & { [GONE]?: ClientGone };

/** The response closed before it was written whole: the client left (one shared function, no closure per call). */
function onResponseClose(this: WithGone): void {
  if (!this.writableFinished) this[GONE]?.abort();
}

interface InvokeParams {
  name: string;
  '*'?: string;
}

export async function invokeRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  acceptRawBodies(app);
  const exec = deps.execution;

  const handler = async (req: FastifyRequest<{ Params: InvokeParams }>, reply: FastifyReply) => {
    const t0 = performance.now();
    const params = req.params;
    const headers = forwardedHeaders(req);
    // A client that goes away takes its call out of the queue (a running call finishes).
    const gone = new ClientGone();
    const raw = reply.raw as WithGone;
    raw[GONE] = gone;
    raw.once('close', onResponseClose);
    let outcome: InvokeOutcome;
    try {
      // name@N or X-Faas-Version: N calls a retained older version in its own pool.
      const target = params.name.includes('@') || req.headers['x-faas-version'] !== undefined ? await pinnedTarget(deps, params.name, req.headers['x-faas-version']) : params.name;
      outcome = await exec.invoke(
        target,
        {
          id: req.id,
          method: req.method,
          path: `/${params['*'] ?? ''}`,
          query: (req.query ?? {}) as Record<string, string | string[]>,
          headers,
          body: Buffer.isBuffer(req.body) ? req.body : EMPTY_BODY,
        },
        gone,
      );
    } catch (e) {
      const ms = performance.now() - t0;
      reply.header('x-faas-duration-ms', ms.toFixed(2));
      const fe = e instanceof FaasError ? e : null;
      if (fe?.instance) reply.header('x-faas-instance-id', fe.instance.id).header('x-faas-cold-start', String(fe.instance.coldStart)).header('x-faas-start', fe.instance.start);
      req.log.info({ function: params.name, status: fe?.status ?? 500, code: fe?.code, ms: Math.round(ms * 100) / 100 }, 'invocation failed');
      throw e;
    }
    const ms = performance.now() - t0;
    const { result } = outcome;
    for (const [k, v] of Object.entries(result.headers)) if (!DROP_RESPONSE.test(k)) reply.header(k, v);
    reply
      .code(result.status)
      .header('x-faas-duration-ms', ms.toFixed(2))
      .header('x-faas-cold-start', outcome.coldStart ? 'true' : 'false')
      .header('x-faas-start', outcome.start)
      .header('x-faas-instance-id', outcome.instanceId);
    if (result.logs.length > 0 && req.log.level === 'debug') req.log.debug({ function: params.name, logs: result.logs }, 'function output');
    return reply.send(result.body);
  };
  // No params schema on the hot path: an unknown name is a 404 from one map lookup anyway. The
  // function's answer is bytes (never serialized): the response schema documents, costs nothing.
  const opts = {
    config: { scope: 'invoke' as const },
    schema: {
      summary: 'Run the function: method, subpath, query, headers and body pass through; name@N runs retained version N (or X-Faas-Version: N)',
      consumes: ['*/*'],
      response: R.invoke,
    },
  };
  app.all<{ Params: InvokeParams }>('/invoke/:name', opts, handler);
  app.all<{ Params: InvokeParams }>('/invoke/:name/*', opts, handler);
}

/** The pool key of a pinned call ("name@N"), or the name itself when N is the live version. */
async function pinnedTarget(deps: AppDeps, raw: string, header: string | string[] | undefined): Promise<string> {
  const { name, version } = versionAsked(raw, header);
  return version === null ? name : ((await deps.functions.pin(name, version)) ?? name);
}
