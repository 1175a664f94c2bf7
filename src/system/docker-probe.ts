// Is a Docker engine reachable (DOCKER_HOST or the default socket), and which API version?
import Docker from 'dockerode';

export interface DockerProbe {
  ok: boolean;
  detail: string;
  apiVersion?: string;
}

export async function probeDocker(docker: Docker = new Docker(), timeoutMs = 3000): Promise<DockerProbe> {
  const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref());
  try {
    const v = (await Promise.race([docker.version(), timeout])) as { Version: string; ApiVersion: string };
    return { ok: true, detail: `engine ${v.Version}, API ${v.ApiVersion}`, apiVersion: v.ApiVersion };
  } catch (e) {
    const where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    return { ok: false, detail: `engine not reachable at ${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

/**
 * The locally built runtime images (scripts/build-runtime-images.sh: faasd-runtime/python:*,
 * faasd-runtime/node:*), when the engine answers and has them: what --create-config
 * proposes on a host that cannot pull from a registry.
 */
export async function localRuntimeImages(docker: Docker = new Docker(), timeoutMs = 3000): Promise<{ python?: string; node?: string }> {
  try {
    const list = await docker.listImages({ filters: { reference: ['faasd-runtime/*'] }, abortSignal: AbortSignal.timeout(timeoutMs) } as Docker.ListImagesOptions);
    const tags = list.flatMap((i) => i.RepoTags ?? []).sort();
    const pick = (repo: string) => tags.find((t) => t.startsWith(`${repo}:`));
    const python = pick('faasd-runtime/python');
    const node = pick('faasd-runtime/node');
    return { ...(python ? { python } : {}), ...(node ? { node } : {}) };
  } catch {
    return {};
  }
}
