// What container mode needs of the host, for `faasd --check-system`: a Docker engine, and
// each configured runtime image present or pullable. A failure is `fail` when container mode
// is the default mode, else `warn`.
import Docker from 'dockerode';
import pino from 'pino';
import type { LoadedConfig } from '../../../config/load.js';
import type { HostCheck, RuntimeName } from '../../driver.js';
import { probeDocker } from './docker-util.js';
import { ContainerImages, type ImageStatus } from './images.js';

export function containerHostChecks(config: LoadedConfig, required: boolean): HostCheck[] {
  const sys = config.system;
  const severity = required ? 'fail' : 'warn';
  const docker = new Docker();
  let states: Promise<ImageStatus[] | string> | undefined;
  /** Each configured image's state, or why it cannot be known; asked once for both image lines. */
  const imageStates = () =>
    (states ??= (async () => {
      if (sys.disable_container) return 'container mode is disabled';
      if (!(await probeDocker(docker)).ok) return 'no Docker engine';
      const images = new ContainerImages({ docker, images: { ...sys.container_images }, daemonId: 'check-system', logger: pino({ level: 'silent' }) });
      return images.status(AbortSignal.timeout(10_000));
    })());
  const image =
    (runtime: RuntimeName): HostCheck =>
    async () => {
      const name = `image ${runtime}`;
      const ref = sys.container_images[runtime];
      const all = await imageStates();
      if (typeof all === 'string') return { name, status: 'warn', detail: `${ref}: not checked (${all})` };
      const s = all.find((x) => x.runtime === runtime);
      if (!s) return { name, status: 'warn', detail: 'no image configured' };
      if (s.state === 'present' || s.state === 'pullable') return { name, status: 'ok', detail: `${ref} ${s.detail}` };
      return {
        name,
        status: severity,
        detail: `${ref} ${s.detail}`,
        hint: `docker load or docker pull it, run scripts/build-runtime-images.sh and set system.container_images.${runtime}: faasd-runtime/${runtime === 'python' ? 'python:3.11-local' : 'node:20-local'}`,
      };
    };
  return [
    async () => {
      if (sys.disable_container) return { name: 'docker', status: severity, detail: 'container mode disabled by configuration (FAAS_DISABLE_CONTAINER / system.disable_container)' };
      const d = await probeDocker(docker);
      if (d.ok) return { name: 'docker', status: 'ok', detail: d.detail };
      return { name: 'docker', status: severity, detail: d.detail, hint: 'install docker.io and start dockerd, or set DOCKER_HOST; process mode works without it' };
    },
    image('python'),
    image('node'),
  ];
}
