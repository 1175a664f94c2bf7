#!/usr/bin/env node
// Probe the data path faasd's container driver uses: host listens on a Unix
// socket in a temp dir, the dir is bind-mounted at /run/faas in a locked-down
// container, the container connects and writes "hello".
//
// Measures createContainer -> first byte, docker kill -> removed, and checks
// OOM reporting and where the container's cgroup files live on this host.
//
// Usage: node scripts/probe-container-socket.mjs [--runs N] [--bind rw|ro] [--lang node|python]
//   --lang picks the image/command of the hello loop; the OOM and stop checks
//   always use the node image.
// Needs a running engine (scripts/ensure-docker.sh) and the local images
// (scripts/build-runtime-images.sh). Plain Node ESM, only dockerode.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Resolve dockerode from the repo's node_modules, wherever we are run from.
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'package.json'));
const Docker = require('dockerode');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const RUNS = Number(opt('--runs', '10'));
const BIND_MODE = opt('--bind', 'rw');
const LANG = opt('--lang', 'node');
const NODE_IMAGE = 'faasd-runtime/node:20-local';
const PY_IMAGE = 'faasd-runtime/python:3.11-local';
if (!['node', 'python'].includes(LANG)) throw new Error(`--lang must be node or python, not ${LANG}`);
const LABELS = { 'faasd.managed': 'true', 'faasd.probe': 'socket' };

const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
const created = new Set();
const ms = (t0, t1 = process.hrtime.bigint()) => Number(t1 - t0) / 1e6;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;

function hostConfig(dir, extra = {}) {
  return {
    Binds: [`${dir}:/run/faas:${BIND_MODE}`],
    NetworkMode: 'none',
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': 'rw,size=16m' },
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    PidsLimit: 64,
    Memory: 64 * 1024 * 1024,
    MemorySwap: 64 * 1024 * 1024,
    NanoCpus: 5e8,
    AutoRemove: false,
    ...extra,
  };
}

async function createContainer(dir, cmd, extraHost = {}, image = NODE_IMAGE) {
  const c = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    User: '65534:65534',
    Env: ['FAAS_SOCKET=/run/faas/s.sock', 'HOME=/tmp'],
    Labels: LABELS,
    HostConfig: hostConfig(dir, extraHost),
  });
  created.add(c.id);
  return c;
}

async function removeContainer(c) {
  await c.remove({ force: true, v: true }).catch((e) => {
    if (e.statusCode !== 404) throw e;
  });
  created.delete(c.id);
}

// Host side: temp dir usable by uid 65534, Unix socket 0666 inside.
async function makeSocketDir() {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'faasd-probe-'));
  await fsp.chmod(dir, 0o711); // uid 65534 only needs search (x) to reach the socket
  const sock = path.join(dir, 's.sock');
  const waiters = [];
  const server = net.createServer((conn) => {
    conn.once('data', (buf) => {
      const t = process.hrtime.bigint();
      const w = waiters.shift();
      if (w) w({ t, data: buf.toString() });
    });
    conn.on('error', () => {});
  });
  await new Promise((res, rej) => server.once('error', rej).listen(sock, res));
  await fsp.chmod(sock, 0o666);
  const nextMessage = (timeoutMs = 15000) =>
    new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error('timeout waiting for first byte')), timeoutMs);
      waiters.push((v) => {
        clearTimeout(timer);
        res(v);
      });
    });
  return { dir, sock, server, nextMessage };
}

const HELLO_CODE = `
const s = require('net').connect(process.env.FAAS_SOCKET, () => s.write('hello'));
s.on('error', (e) => { console.error('connect error', e.message); process.exit(2); });
setInterval(() => {}, 1 << 30); // stay alive until killed
`;
const PY_HELLO_CODE = `
import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["FAAS_SOCKET"])
s.sendall(b"hello")
while True: time.sleep(3600)  # stay alive until killed
`;
const HELLO = LANG === 'python' ? { image: PY_IMAGE, cmd: ['/usr/bin/python3', '-c', PY_HELLO_CODE] } : { image: NODE_IMAGE, cmd: ['/usr/bin/node', '-e', HELLO_CODE] };

function cgroupCandidates(id) {
  const base = '/sys/fs/cgroup';
  return {
    memory_usage: [
      `${base}/memory/docker/${id}/memory.usage_in_bytes`,
      `${base}/memory/system.slice/docker-${id}.scope/memory.usage_in_bytes`,
      `${base}/system.slice/docker-${id}.scope/memory.current`,
      `${base}/docker/${id}/memory.current`,
    ],
    memory_limit: [`${base}/memory/docker/${id}/memory.limit_in_bytes`],
    memory_max_usage: [`${base}/memory/docker/${id}/memory.max_usage_in_bytes`],
    memory_stat: [`${base}/memory/docker/${id}/memory.stat`],
    memory_oom_control: [`${base}/memory/docker/${id}/memory.oom_control`],
    memory_failcnt: [`${base}/memory/docker/${id}/memory.failcnt`],
    cpuacct_usage: [`${base}/cpuacct/docker/${id}/cpuacct.usage`, `${base}/cpu,cpuacct/docker/${id}/cpuacct.usage`],
    cpu_quota: [`${base}/cpu/docker/${id}/cpu.cfs_quota_us`],
    cpu_stat: [`${base}/cpu/docker/${id}/cpu.stat`],
    pids_current: [`${base}/pids/docker/${id}/pids.current`],
    pids_max: [`${base}/pids/docker/${id}/pids.max`],
    blkio: [`${base}/blkio/docker/${id}/blkio.throttle.io_service_bytes`],
  };
}

async function inspectCgroups(c) {
  const info = await c.inspect();
  const pid = info.State.Pid;
  const procCgroup = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim();
  const found = {};
  for (const [k, paths] of Object.entries(cgroupCandidates(c.id))) {
    const p = paths.find((x) => fs.existsSync(x));
    found[k] = p ? { path: p.replace(c.id, '<id>'), value: fs.readFileSync(p, 'utf8').trim().split('\n').slice(0, 3).join(' | ') } : null;
  }
  return { pid, cgroupParent: info.HostConfig.CgroupParent || '(default)', procCgroup, found };
}

async function main() {
  const [info, version] = await Promise.all([docker.info(), docker.version()]);
  console.log(
    `engine: ${version.Version} API ${version.ApiVersion}, CgroupDriver=${info.CgroupDriver}, CgroupVersion=${info.CgroupVersion}, storage=${info.Driver}, seccomp=${(info.SecurityOptions || []).join(',')}`,
  );
  for (const image of new Set([HELLO.image, NODE_IMAGE])) {
    await docker
      .getImage(image)
      .inspect()
      .catch(() => {
        throw new Error(`image ${image} missing: run scripts/build-runtime-images.sh`);
      });
  }

  const { dir, server, nextMessage } = await makeSocketDir();
  console.log(`socket dir ${dir} (0711), socket s.sock (0666), bind mode ${BIND_MODE}, hello loop: ${HELLO.image}`);
  const createMs = [],
    startMs = [],
    firstByteMs = [],
    killRemoveMs = [],
    killMs = [],
    removeMs = [];
  let cg = null;
  try {
    // --- 1. create -> first byte, kill -> removed -------------------------
    for (let i = 0; i < RUNS; i++) {
      const msg = nextMessage();
      const t0 = process.hrtime.bigint();
      const c = await createContainer(dir, HELLO.cmd, {}, HELLO.image);
      const t1 = process.hrtime.bigint();
      await c.start();
      const t2 = process.hrtime.bigint();
      const { t, data } = await msg;
      if (data !== 'hello') throw new Error(`unexpected payload ${JSON.stringify(data)}`);
      createMs.push(ms(t0, t1));
      startMs.push(ms(t1, t2));
      firstByteMs.push(ms(t0, t));
      if (i === 0) cg = await inspectCgroups(c);

      const k0 = process.hrtime.bigint();
      await c.kill(); // SIGKILL
      await c.wait(); // returns once the container has stopped
      const k1 = process.hrtime.bigint();
      await c.remove({ v: true });
      created.delete(c.id);
      const k2 = process.hrtime.bigint();
      killMs.push(ms(k0, k1));
      removeMs.push(ms(k1, k2));
      killRemoveMs.push(ms(k0, k2));
    }
    console.log(`received "hello" from ${RUNS} containers`);
    console.log(`create call:              ${fmt(createMs)}`);
    console.log(`start call:               ${fmt(startMs)}`);
    console.log(`createContainer->1st byte ${fmt(firstByteMs)}`);
    console.log(`kill->stopped (wait):     ${fmt(killMs)}`);
    console.log(`stopped->removed:         ${fmt(removeMs)}`);
    console.log(`kill->removed:            ${fmt(killRemoveMs)}`);

    // remove({force:true}) on a running container: kill+remove in one call
    const forceMs = [];
    for (let i = 0; i < Math.min(5, RUNS); i++) {
      const msg = nextMessage();
      const c = await createContainer(dir, HELLO.cmd, {}, HELLO.image);
      await c.start();
      await msg;
      const f0 = process.hrtime.bigint();
      await c.remove({ force: true, v: true });
      created.delete(c.id);
      forceMs.push(ms(f0));
    }
    console.log(`remove(force) running:    ${fmt(forceMs)}`);

    console.log('\ncgroup files of a running container (first run):');
    console.log(`  host pid ${cg.pid}, CgroupParent ${cg.cgroupParent}`);
    console.log(`  /proc/<pid>/cgroup: ${cg.procCgroup.split('\n').join('  ')}`);
    for (const [k, v] of Object.entries(cg.found)) console.log(`  ${k.padEnd(18)} ${v ? `${v.path} = ${v.value}` : 'not found'}`);

    // --- 2. OOM ----------------------------------------------------------
    const oomCode = `
const keep = [];
for (let i = 0; i < 20; i++) { keep.push(Buffer.alloc(10 * 1024 * 1024, 1)); }
console.log('allocated 200 MB without being killed');
`;
    const o0 = process.hrtime.bigint();
    const oc = await createContainer(dir, ['/usr/bin/node', '-e', oomCode]);
    await oc.start();
    const res = await oc.wait();
    const oi = await oc.inspect();
    const logs = (await oc.logs({ stdout: true, stderr: true }))
      .toString('latin1')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping the control bytes of docker's multiplexed log frames
      .replace(/[\x00-\x08]/g, '')
      .trim();
    console.log(
      `\nOOM probe (200 MB under Memory=64MiB, MemorySwap=64MiB): wait() StatusCode=${res.StatusCode}, ` +
        `State.OOMKilled=${oi.State.OOMKilled}, ExitCode=${oi.State.ExitCode}, Error=${JSON.stringify(oi.State.Error)}, ` +
        `took ${ms(o0).toFixed(0)} ms${logs ? `, logs: ${logs.slice(0, 200)}` : ''}`,
    );
    await removeContainer(oc);

    // OOM event on the events stream
    const events = await docker.getEvents({ filters: JSON.stringify({ label: ['faasd.probe=socket'], event: ['oom', 'die'] }) });
    const seen = [];
    events.on('data', (b) => {
      for (const line of b.toString().split('\n').filter(Boolean)) {
        const e = JSON.parse(line);
        seen.push(`${e.Action}${e.Actor?.Attributes?.exitCode ? `(exitCode=${e.Actor.Attributes.exitCode})` : ''}`);
      }
    });
    const oc2 = await createContainer(dir, ['/usr/bin/node', '-e', oomCode]);
    await oc2.start();
    await oc2.wait();
    await new Promise((r) => setTimeout(r, 300));
    events.destroy();
    console.log(`events for an OOM-killed container: ${seen.join(', ')}`);
    await removeContainer(oc2);

    // --- 3. PID 1 and SIGTERM -------------------------------------------
    for (const init of [false, true]) {
      const c = await createContainer(dir, ['/usr/bin/node', '-e', 'setInterval(() => {}, 1 << 30)'], { Init: init });
      await c.start();
      await new Promise((r) => setTimeout(r, 200));
      const s0 = process.hrtime.bigint();
      await c.stop({ t: 3 });
      const si = await c.inspect();
      console.log(`docker stop -t 3 (SIGTERM) with Init=${init}: ${ms(s0).toFixed(0)} ms, ExitCode=${si.State.ExitCode}`);
      await removeContainer(c);
    }
  } finally {
    for (const id of created)
      await docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => {});
    server.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error('probe failed:', e);
  process.exitCode = 1;
});
