// What --check-system and --create-config ask the Docker engine.
import Docker from 'dockerode';
export { probeDocker, type DockerProbe } from '../execution/drivers/container/docker-util.js';

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
