// One catalogue of coded errors. Every error faasd raises on purpose is a FaasError with a
// stable `code`; the gateway maps codes to HTTP status in one place (gateway/error-handler.ts)
// and never matches on messages.

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'FUNCTION_NOT_FOUND'
  | 'INSTANCE_NOT_FOUND'
  | 'FUNCTION_EXISTS'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'DEPLOY_FAILED'
  | 'RATE_LIMITED'
  | 'ASYNC_QUEUE_FULL'
  | 'JOB_NOT_FOUND'
  | 'VERSION_NOT_FOUND'
  | 'VERSION_PRUNED'
  | 'JOB_CONFLICT'
  | 'SECRET_NOT_FOUND'
  | 'SECRET_EXISTS'
  | 'SECRET_IN_USE'
  | 'FUNCTION_ERROR'
  | 'INSTANCE_CRASHED'
  | 'OUT_OF_MEMORY'
  | 'OVERLOADED'
  | 'QUEUE_FULL'
  | 'NO_CAPACITY'
  | 'CLIENT_CLOSED'
  | 'DRAINING'
  | 'INSTANCE_TIMEOUT'
  | 'NOT_IMPLEMENTED'
  | 'CONFIG_INVALID'
  | 'REGISTRY_LOCKED'
  | 'PROTOCOL_ERROR'
  | 'INTERNAL';

interface ErrorInfo {
  status: number;
  /** The `error` field of the JSON body, as DESIGN.md names it. */
  name: string;
}

export const ERROR_INFO: Readonly<Record<ErrorCode, ErrorInfo>> = Object.freeze({
  BAD_REQUEST: { status: 400, name: 'BadRequest' },
  UNAUTHORIZED: { status: 401, name: 'Unauthorized' },
  FORBIDDEN: { status: 403, name: 'Forbidden' },
  NOT_FOUND: { status: 404, name: 'NotFound' },
  FUNCTION_NOT_FOUND: { status: 404, name: 'FunctionNotFound' },
  INSTANCE_NOT_FOUND: { status: 404, name: 'InstanceNotFound' },
  FUNCTION_EXISTS: { status: 409, name: 'FunctionExists' },
  PAYLOAD_TOO_LARGE: { status: 413, name: 'PayloadTooLarge' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, name: 'UnsupportedMediaType' },
  DEPLOY_FAILED: { status: 422, name: 'DeployFailed' },
  RATE_LIMITED: { status: 429, name: 'TooManyRequests' },
  ASYNC_QUEUE_FULL: { status: 429, name: 'AsyncQueueFull' },
  JOB_NOT_FOUND: { status: 404, name: 'InvocationNotFound' },
  VERSION_NOT_FOUND: { status: 404, name: 'VersionNotFound' },
  VERSION_PRUNED: { status: 410, name: 'VersionPruned' },
  JOB_CONFLICT: { status: 409, name: 'InvocationConflict' },
  SECRET_NOT_FOUND: { status: 404, name: 'SecretNotFound' },
  SECRET_EXISTS: { status: 409, name: 'SecretExists' },
  SECRET_IN_USE: { status: 409, name: 'SecretInUse' },
  FUNCTION_ERROR: { status: 500, name: 'FunctionError' },
  INSTANCE_CRASHED: { status: 502, name: 'InstanceCrashed' },
  OUT_OF_MEMORY: { status: 502, name: 'OutOfMemory' },
  OVERLOADED: { status: 503, name: 'Overloaded' },
  QUEUE_FULL: { status: 503, name: 'QueueFull' },
  NO_CAPACITY: { status: 503, name: 'NoCapacity' },
  // nginx's 499: the client closed the connection before an answer; nobody reads this one.
  CLIENT_CLOSED: { status: 499, name: 'ClientClosedRequest' },
  DRAINING: { status: 503, name: 'Draining' },
  INSTANCE_TIMEOUT: { status: 504, name: 'Timeout' },
  NOT_IMPLEMENTED: { status: 501, name: 'NotImplemented' },
  CONFIG_INVALID: { status: 500, name: 'ConfigInvalid' },
  REGISTRY_LOCKED: { status: 500, name: 'RegistryLocked' },
  PROTOCOL_ERROR: { status: 502, name: 'InstanceCrashed' },
  INTERNAL: { status: 500, name: 'InternalError' },
});

export class FaasError extends Error {
  readonly code: ErrorCode;
  /** Extra fields merged into the JSON error body (must never hold secrets). */
  readonly details: Record<string, unknown>;
  /** Seconds, for 429/503 answers. */
  readonly retryAfter?: number;
  /** Set on invoke errors that happened on an instance (for the x-faas-* headers). */
  instance?: { id: string; coldStart: boolean; start: 'warm' | 'prewarmed' | 'cold' };

  constructor(code: ErrorCode, message: string, opts: { details?: Record<string, unknown>; retryAfter?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FaasError';
    this.code = code;
    this.details = opts.details ?? {};
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }

  get status(): number {
    return ERROR_INFO[this.code].status;
  }

  /** True when the caller (not faasd) is at fault: 4xx. */
  get isUserError(): boolean {
    return this.status < 500;
  }
}

export function badRequest(field: string, message: string): FaasError {
  return new FaasError('BAD_REQUEST', message, { details: { field } });
}
