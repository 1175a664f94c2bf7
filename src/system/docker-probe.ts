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
