// Small helpers for talking to the Docker engine through dockerode, shared by the container
// driver and its image catalogue.
import Docker from 'dockerode';

/** Labels on everything faasd creates: what a restarted daemon's orphan sweep looks for. */
export const LABELS = Object.freeze({
  managed: 'faasd.managed',
  fn: 'faasd.function',
  instance: 'faasd.instance',
  daemon: 'faasd.daemon',
  version: 'faasd.version',
});

export function statusCode(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The engine's own sentence (dockerode puts it in `json.message`), else the error message. */
export function dockerMessage(e: unknown): string {
  const json = (e as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message;
  if ((e as Error | null)?.name === 'AbortError' || (e as Error | null)?.name === 'TimeoutError') return 'no answer in time';
  return e instanceof Error ? e.message : String(e);
}

/**
 * GET an engine path, bounded by `signal`. dockerode's Image.inspect() and distribution()
 * drop the abortSignal they are given, so against a hung engine they never return; the
 * modem's dial honours it.
 */
export function engineGet<T>(docker: Docker, path: string, signal: AbortSignal, statusCodes: Record<number, true | string>): Promise<T> {
  const modem = (docker as unknown as { modem: { dial(opts: object, cb: (err: unknown, data: unknown) => void): void } }).modem;
  return new Promise<T>((resolve, reject) => modem.dial({ path, method: 'GET', options: {}, abortSignal: signal, statusCodes }, (err, data) => (err ? reject(err) : resolve(data as T))));
}

/** Is a Docker engine reachable (DOCKER_HOST or the default socket), and which API version? */
export interface DockerProbe {
  ok: boolean;
  detail: string;
  apiVersion?: string;
}

export async function probeDocker(docker: Docker = new Docker(), timeoutMs = 3000): Promise<DockerProbe> {
  try {
    // The typings omit the options argument; dockerode honours abortSignal (no stray timer left behind).
    const version = docker.version as (opts: object) => Promise<{ Version: string; ApiVersion: string }>;
    const v = await version.call(docker, { abortSignal: AbortSignal.timeout(timeoutMs) });
    return { ok: true, detail: `engine ${v.Version}, API ${v.ApiVersion}`, apiVersion: v.ApiVersion };
  } catch (e) {
    const where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    const why = (e as Error).name === 'AbortError' || (e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    return { ok: false, detail: `engine not reachable at ${where}: ${why}` };
  }
}
