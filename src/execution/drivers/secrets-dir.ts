// Each instance's secrets directory: `<runRoot>/<id>.secrets/files`, mounted read-only at
// /var/faasd/secrets and /var/openfaas/secrets (where OpenFaaS functions look) before the
// instance starts, and filled with one file per secret once it is known which function the
// instance serves (at a cold start right after launch, for a pre-warmed one when it is
// specialised), always before `init` loads any of the function's code. Values never pass
// through an environment, an argv or a frame; the directory lives under the run directory
// (not the function storage) and is removed when the instance stops.
//
// `<id>.secrets` itself is the daemon's, mode 0700: a host user who can guess an instance id
// still cannot reach `files`, while the sandbox or container sees only `files` (mode 0500,
// owned by the uid the function runs as, files 0400).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SecretFile } from '../driver.js';

/** Where an instance finds its secrets (strict process mode and container mode). */
export const SECRETS_MOUNTS = ['/var/faasd/secrets', '/var/openfaas/secrets'] as const;
/** Set in every instance's environment: the directory holding its secret files, in every mode. */
export const SECRETS_DIR_ENV = 'FAASD_SECRETS_DIR';

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface SecretsDir {
  /** `<runRoot>/<id>.secrets`: removed with everything in it. */
  root: string;
  /** The directory the instance sees. */
  dir: string;
}

/**
 * Make an instance's (empty, not yet readable) secrets directory and launch it with it; the
 * launched instance holds it from then on (its stop() removes it). Removed if the launch fails.
 */
export async function withSecretsDir<I extends { secrets: SecretsDir | null }>(runRoot: string, id: string, launch: (dir: string) => Promise<I>): Promise<I> {
  const root = path.join(runRoot, `${id}.secrets`);
  const dir = path.join(root, 'files');
  await fs.mkdir(root, { mode: 0o700 });
  try {
    await fs.mkdir(dir, { mode: 0o700 });
    const inst = await launch(dir);
    inst.secrets = { root, dir };
    return inst;
  } catch (e) {
    await fs.rm(root, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Write the function's secrets (each a file named after it) and hand the directory to the uid
 * the function runs as: `uid` (strict process mode and containers: 65534), or the daemon's own
 * when undefined (the levels that run functions as the daemon's user). A non-root daemon cannot
 * give files away, so for another uid they are made world-readable (0444): the 0700 parent
 * keeps host users out, and only the instance sees the directory.
 */
export async function fillSecretsDir(dir: string, secrets: readonly SecretFile[], uid: number | undefined): Promise<void> {
  const own = process.getuid?.();
  const chownTo = own === 0 && uid !== undefined ? uid : null;
  const shared = own !== 0 && uid !== undefined && uid !== own;
  for (const s of secrets) {
    if (!NAME_RE.test(s.name)) continue; // the config schema allows no other names
    const file = path.join(dir, s.name);
    await fs.writeFile(file, s.value, { mode: 0o400, flag: 'wx' });
    if (chownTo !== null) await fs.chown(file, chownTo, chownTo);
    if (shared) await fs.chmod(file, 0o444);
  }
  if (chownTo !== null) await fs.chown(dir, chownTo, chownTo);
  await fs.chmod(dir, shared ? 0o555 : 0o500);
}
