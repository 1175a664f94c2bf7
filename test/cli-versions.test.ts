// faasd versions / faasd rollback against a real daemon.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ok } from './helpers/cli.js';
import { startTestDaemon, tempDir } from './helpers/daemon.js';
import { isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('CLI versions suite skipped: it runs functions in strict sandboxes, which need root');

describe.skipIf(!isRoot)('faasd versions and rollback', () => {
  it('lists the versions of a function and rolls back to the previous one, or to --to N', async () => {
    const d = await startTestDaemon({ listen: true });
    const dir = tempDir();
    const file = path.join(dir, 'hello.py');
    for (const n of [1, 2, 3]) {
      fs.writeFileSync(file, `def handle(request):\n    return "v${n}"\n`);
      await ok(cli(d, ['deploy', 'hello', file]));
    }
    const table = await ok(cli(d, ['versions', 'hello']));
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^VERSION\s+CREATED\s+BY\s+DIGEST\s+CHANGE$/);
    expect(rows[1]).toMatch(/^\s*3 live\s+just now\s+demo\s+[0-9a-f]{12}\s+changed main\.py$/);
    expect(rows[3]).toMatch(/^\s*1\s.*created$/);

    const back = await ok(cli(d, ['rollback', 'hello']));
    expect(back.stdout).toContain('live version is now 4');
    expect((await ok(cli(d, ['invoke', 'hello']))).stdout.trim()).toBe('"v2"');
    await ok(cli(d, ['rollback', 'hello', '--to', '1']));
    expect((await ok(cli(d, ['invoke', 'hello']))).stdout.trim()).toBe('"v1"');
    const json = JSON.parse((await ok(cli(d, ['versions', 'hello', '--json']))).stdout);
    expect(json.versions.map((v: { change: string }) => v.change).slice(0, 2)).toEqual(['rollback to 1', 'rollback to 2']);

    const missing = await cli(d, ['rollback', 'hello', '--to', '99']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('faasd: VersionNotFound:');
  });
});
