// The one place where errors become HTTP answers (DESIGN.md's error contract).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_INFO, FaasError } from '../errors.js';
import { explain } from '../model/function-schema.js';

interface ValidationItem {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  /** Set by Ajv on a failed `propertyNames` check: the offending key. */
  propertyName?: string;
  /** With Ajv's `verbose` (the function schema's): the failing node and value. */
  parentSchema?: unknown;
  data?: unknown;
}

/** `/config/timeout` + keyword params -> `config.timeout`. */
export function fieldOf(v: ValidationItem, context?: string): string {
  const segs = v.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (v.keyword === 'required') segs.push(String(v.params.missingProperty));
  if (v.keyword === 'additionalProperties') segs.push(String(v.params.additionalProperty));
  if (v.propertyName !== undefined) segs.push(v.propertyName);
  const field = segs
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`))
    .join('')
    .replace(/^\./, '');
  return field || context || 'body';
}

function validationMessage(v: ValidationItem, field: string): string {
  // A schema node that says what it expects (the function config's) explains itself, in the
  // same words as faas_config.yaml's loader.
  const detail = explain(v);
  if (detail !== null) return `${field}: ${detail}`;
  switch (v.keyword) {
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `${field} is not a known field`;
    case 'type':
      return `${field} must be of type ${String(v.params.type)}`;
    default:
      return `${field} ${v.message ?? 'is not valid'}`;
  }
}

function send(reply: FastifyReply, err: FaasError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfter))));
  return reply.code(err.status).send({ error: ERROR_INFO[err.code].name, message: err.message, ...err.details });
}

export function toFaasError(error: FastifyError | Error): FaasError | null {
  if (error instanceof FaasError) return error;
  const fe = error as FastifyError & { validation?: ValidationItem[]; validationContext?: string };
  if (fe.validation && fe.validation.length > 0) {
    const v = fe.validation[0]!;
    const field = fieldOf(v, fe.validationContext);
    return new FaasError('BAD_REQUEST', validationMessage(v, field), { details: { field } });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new FaasError('PAYLOAD_TOO_LARGE', 'the request body is larger than this route accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new FaasError('UNSUPPORTED_MEDIA_TYPE', 'send the body as Content-Type: application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new FaasError('BAD_REQUEST', 'the JSON body is empty', { details: { field: 'body' } });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new FaasError('BAD_REQUEST', `the body is not valid JSON: ${fe.message}`, { details: { field: 'body' } });
    default:
      break;
  }
  if (fe.statusCode === 400 && error instanceof SyntaxError) {
    return new FaasError('BAD_REQUEST', `the body is not valid JSON: ${error.message}`, { details: { field: 'body' } });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = (Object.keys(ERROR_INFO) as (keyof typeof ERROR_INFO)[]).find((c) => ERROR_INFO[c].status === fe.statusCode) ?? 'BAD_REQUEST';
    return new FaasError(code, fe.message);
  }
  return null;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const fe = toFaasError(error);
    if (fe) {
      if (fe.status >= 500) req.log.warn({ code: fe.code, msg: fe.message }, 'request failed');
      return send(reply, fe);
    }
    // A daemon bug: log the stack, never leak it.
    req.log.error({ err: error }, 'internal error');
    return send(reply, new FaasError('INTERNAL', `internal error; the daemon log has the details under request id ${req.id}`, { details: { request_id: req.id } }));
  });
  app.setNotFoundHandler((req, reply) => {
    send(reply, new FaasError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
}
