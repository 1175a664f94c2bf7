import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Suites spawn real processes, namespaces, cgroups and containers: forks, not threads.
    pool: 'forks',
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // test/setup.ts also fails a file that leaks a daemon, a process, a cgroup or a container;
    // its afterAll must run after the file's own, which 'stack' (the default) guarantees.
    setupFiles: ['test/setup.ts'],
    sequence: { hooks: 'stack' },
    // Integration suites share cgroup/docker resources on a 2-core machine.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
  },
});
