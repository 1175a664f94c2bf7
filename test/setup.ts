// Loaded before every test file, in its worker. Keeps the daemon's own environment out of
// spawned shims (NODE_EXTRA_CA_CERTS alone adds ~30 ms to every node start on these machines),
// and fails the file if it leaves a daemon, a child process, a cgroup or a container behind
// (helpers/leaks.ts says how each is found and attributed to this file).
import { afterAll } from 'vitest';
import { checkLeaks, snapshot } from './helpers/leaks.js';

process.env.FAAS_TEST = '1';

// Taken before the test file is imported: some suites make cgroups at their top level.
const before = await snapshot();

// Registered first, so it runs last: after the file's own afterAll hooks (vitest's default
// sequence.hooks is 'stack').
afterAll(async () => {
  const leaks = await checkLeaks(before);
  if (leaks.length > 0) throw new Error(`this test file leaked (now cleaned up):\n  ${leaks.join('\n  ')}`);
});
