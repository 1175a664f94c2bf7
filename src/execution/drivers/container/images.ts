// The runtime images of container mode: made local (pulled when missing) and inspected for
// their interpreter before a container starts, and their state for /health and
// --check-system (present, pullable, or neither and why).
//
// A pull that fails (a host without registry access) is retried with backoff, 1 s doubling
// to 5 min, and logged once per streak: until the backoff ends, a start or deploy that needs
// the image fails at once with the last pull's error instead of asking the registry again.
// Looking for the image locally is always done (one cheap engine call): an image loaded
// with `docker load` meanwhile is used at once.
import path from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { FaasError } from '../../../errors.js';
import type { RuntimeName } from '../../driver.js';
import { LABELS, dockerMessage, engineGet, statusCode } from './docker-util.js';

const BINARY: Record<RuntimeName, string> = { python: 'python3', node: 'node' };
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PULL_BACKOFF_FIRST_MS = 1000;
const PULL_BACKOFF_MAX_MS = 300_000;
/** How long a "pullable?" answer from the registry is believed (status only). */
const PULLABLE_TTL_MS = 300_000;

export interface ImageInfo {
  interpreter: string;
  /** PATH for the container: the image's own, else the usual default. */
  path: string;
}

export type ImageState = 'present' | 'pullable' | 'missing' | 'unknown';

export interface ImageStatus {
  runtime: RuntimeName;
  image: string;
  state: ImageState;
  detail: string;
}

interface PullFailure {
  failures: number;
  retryAt: number;
  error: string;
}

export interface ContainerImagesOptions {
  docker: Docker;
  images: Record<RuntimeName, string>;
  daemonId: string;
  logger: Logger;
  interpreterPaths?: Partial<Record<RuntimeName, string>>;
}

export class ContainerImages {
  private readonly ready = new Map<string, Promise<ImageInfo>>();
  private readonly pullFailures = new Map<string, PullFailure>();
  private readonly pullable = new Map<string, { at: number; ok: boolean; detail: string }>();

  constructor(private readonly opts: ContainerImagesOptions) {}

  /** The runtime's image, local and inspected (pulled first when missing). Throws DEPLOY_FAILED. */
  info(runtime: RuntimeName): Promise<ImageInfo> {
    const image = this.opts.images[runtime];
    if (!image) return Promise.reject(new FaasError('DEPLOY_FAILED', `no container image is configured for ${runtime} functions`, { details: { runtime } }));
    let p = this.ready.get(image);
    if (!p) {
      p = this.load(runtime, image);
      this.ready.set(image, p);
      // A failure is not remembered here (the pull backoff is): the image may appear.
      p.catch(() => this.ready.delete(image));
    }
    return p;
  }

  /** The image disappeared behind our back (a create said 404): look again next time. */
  forget(runtime: RuntimeName): void {
    this.ready.delete(this.opts.images[runtime]);
  }

  /** Each configured image's state, for /health and --check-system. Never pulls. */
  async status(signal?: AbortSignal): Promise<ImageStatus[]> {
    const out: ImageStatus[] = [];
    for (const runtime of ['python', 'node'] as const) {
      const image = this.opts.images[runtime];
      if (!image) continue;
      out.push({ runtime, image, ...(await this.stateOf(image, signal)) });
    }
    return out;
  }

  private async stateOf(image: string, signal?: AbortSignal): Promise<{ state: ImageState; detail: string }> {
    try {
      await this.inspect(image, signal);
      return { state: 'present', detail: 'present locally' };
    } catch (e) {
      if (statusCode(e) !== 404) return { state: 'unknown', detail: `the engine did not say: ${dockerMessage(e)}` };
    }
    const failed = this.pullFailures.get(image);
    if (failed) {
      const next = Math.max(0, Math.round((failed.retryAt - Date.now()) / 1000));
      return { state: 'missing', detail: `not present locally, and ${failed.failures} pull(s) failed: ${failed.error} (next attempt in ${next} s)` };
    }
    let known = this.pullable.get(image);
    if (!known || Date.now() - known.at > PULLABLE_TTL_MS) {
      known = await this.askRegistry(image, signal);
      this.pullable.set(image, known);
    }
    return known.ok
      ? { state: 'pullable', detail: 'not present locally; its registry has it (pulled at the first deploy)' }
      : { state: 'missing', detail: `not present locally and not pullable: ${known.detail}` };
  }

  /** GET /distribution/<image>/json: the engine asks the registry for the manifest, nothing is pulled. */
  private async askRegistry(image: string, signal?: AbortSignal): Promise<{ at: number; ok: boolean; detail: string }> {
    try {
      if (signal) await engineGet(this.opts.docker, `/distribution/${image}/json`, signal, { 200: true, 401: 'not authorized', 404: 'no such image', 500: 'server error' });
      else await (this.opts.docker.getImage(image) as Docker.Image & { distribution(): Promise<unknown> }).distribution();
      return { at: Date.now(), ok: true, detail: 'pullable' };
    } catch (e) {
      return { at: Date.now(), ok: false, detail: dockerMessage(e) };
    }
  }

  private inspect(image: string, signal?: AbortSignal): Promise<Docker.ImageInspectInfo> {
    return signal
      ? engineGet<Docker.ImageInspectInfo>(this.opts.docker, `/images/${image}/json`, signal, { 200: true, 404: 'no such image', 500: 'server error' })
      : this.opts.docker.getImage(image).inspect();
  }

  private async load(runtime: RuntimeName, image: string): Promise<ImageInfo> {
    const unavailable = (reason: string, cause?: unknown) => new FaasError('DEPLOY_FAILED', `image ${image} for ${runtime} functions is not available: ${reason}`, { details: { image }, cause });
    let inspect: Docker.ImageInspectInfo;
    try {
      inspect = await this.inspect(image);
    } catch (e) {
      if (statusCode(e) !== 404) throw unavailable(`the Docker engine failed: ${dockerMessage(e)}`, e);
      inspect = await this.pullWithBackoff(runtime, image, unavailable);
    }
    const envPath = (inspect.Config?.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) || DEFAULT_PATH;
    const configured = this.opts.interpreterPaths?.[runtime];
    const interpreter =
      configured ??
      (await this.findInterpreter(image, runtime, envPath).catch((e) => {
        throw e instanceof FaasError ? e : unavailable(`cannot look inside it: ${dockerMessage(e)}`, e);
      }));
    if (!interpreter) throw unavailable(`no ${BINARY[runtime]} in the image's PATH (${envPath}); set the interpreter path explicitly`);
    this.opts.logger.debug({ image, runtime, interpreter }, 'container image ready');
    return { interpreter, path: envPath };
  }

  private async pullWithBackoff(runtime: RuntimeName, image: string, unavailable: (reason: string, cause?: unknown) => FaasError): Promise<Docker.ImageInspectInfo> {
    const failed = this.pullFailures.get(image);
    if (failed && Date.now() < failed.retryAt) {
      const next = Math.ceil((failed.retryAt - Date.now()) / 1000);
      throw unavailable(`it is not present locally and the last pull failed: ${failed.error} (next pull attempt in ${next} s; \`docker load\` or \`docker pull\` it meanwhile)`);
    }
    const log = { image, runtime };
    if (failed) this.opts.logger.debug(log, 'pulling image again');
    else this.opts.logger.info(log, 'pulling image');
    try {
      await this.pull(image);
      const inspect = await this.inspect(image);
      this.pullFailures.delete(image);
      this.pullable.delete(image);
      this.opts.logger.info({ ...log, ...(failed ? { after_failures: failed.failures } : {}) }, 'image pulled');
      return inspect;
    } catch (e) {
      const failures = (failed?.failures ?? 0) + 1;
      const delay = Math.min(PULL_BACKOFF_MAX_MS, PULL_BACKOFF_FIRST_MS * 2 ** (failures - 1));
      this.pullFailures.set(image, { failures, retryAt: Date.now() + delay, error: dockerMessage(e) });
      // Once per streak at warn; the repeats are debug.
      const line = { ...log, err: dockerMessage(e), failures, retry_ms: delay };
      if (failures === 1) this.opts.logger.warn(line, 'image pull failed; retrying with backoff');
      else this.opts.logger.debug(line, 'image pull failed again');
      throw unavailable(`it is not present locally and the pull failed: ${dockerMessage(e)}`, e);
    }
  }

  private pull(image: string): Promise<void> {
    const docker = this.opts.docker;
    return new Promise<void>((resolve, reject) => {
      docker.pull(image, {}, (err: unknown, stream: NodeJS.ReadableStream | undefined) => {
        if (err || !stream) return reject(err ?? new Error('no pull stream'));
        docker.modem.followProgress(stream, (doneErr: unknown, output: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
          if (doneErr) return reject(doneErr);
          // The engine reports a failed pull inside the stream, with HTTP 200.
          const failed = (output ?? []).find((o) => o && (o.error || o.errorDetail));
          if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
          resolve();
        });
      });
    });
  }

  /**
   * The first `<dir>/<binary>` that exists in the image, over the image's PATH. Looked up with
   * the archive API on a created-but-never-started container (no process runs, ~50 ms, once
   * per image), because the images have no shell to ask.
   */
  private async findInterpreter(image: string, runtime: RuntimeName, envPath: string): Promise<string | null> {
    const docker = this.opts.docker;
    const probe = await docker.createContainer({
      Image: image,
      Cmd: ['/faasd-interpreter-probe'],
      Labels: { [LABELS.managed]: 'true', [LABELS.daemon]: this.opts.daemonId, 'faasd.probe': 'interpreter' },
      HostConfig: { NetworkMode: 'none', AutoRemove: false },
    });
    try {
      for (const dir of envPath.split(':')) {
        if (!dir.startsWith('/')) continue;
        const candidate = path.posix.join(dir, BINARY[runtime]);
        try {
          const res = (await probe.infoArchive({ path: candidate })) as { resume?: () => void; destroy?: () => void };
          res.destroy?.();
          return candidate;
        } catch (e) {
          if (statusCode(e) !== 404) throw e;
        }
      }
      return null;
    } finally {
      await probe.remove({ force: true }).catch(() => undefined);
    }
  }
}
