// A third driver, registered from a test: an in-process echo. It proves what docs/drivers.md
// says, that a driver is a DriverFactory and nothing else: the real gateway, deploy path,
// pool, /instances, /health and /metrics serve it with no change anywhere.
import { describe, expect, it } from 'vitest';
import type { Driver, DriverFactory, ExitInfo, InstanceSpec, RunningInstance } from '../src/execution/driver.js';
import type { InvokeRequest, InvokeResult } from '../src/execution/protocol/shim-channel.js';
import { ADMIN, DEMO, startTestDaemon } from './helpers/daemon.js';
import { deploy, invoke } from './helpers/functions.js';

/** Answers every call with what it was sent, and who answered. Nothing runs outside this process. */
class EchoInstance implements RunningInstance {
  readonly exited: Promise<ExitInfo>;
  private end!: (exit: ExitInfo) => void;
  calls = 0;

  constructor(
    readonly id: string,
    private readonly spec: InstanceSpec,
  ) {
    this.exited = new Promise((resolve) => (this.end = resolve));
  }

  async invoke(req: InvokeRequest): Promise<InvokeResult> {
    this.calls += 1;
    const body = Buffer.from(JSON.stringify({ echo: req.body.toString('utf8'), method: req.method, path: req.path, fn: this.spec.functionName, version: this.spec.version }));
    return { status: 200, headers: { 'content-type': 'application/json', 'x-echo-calls': String(this.calls) }, body, logs: [`echo ${req.id}`] };
  }

  async kill(): Promise<ExitInfo> {
    this.end({ reason: 'killed', code: null, signal: 'SIGKILL', stderrTail: '' });
    return this.exited;
  }

  async stop(): Promise<void> {
    this.end({ reason: 'stopped', code: 0, signal: null, stderrTail: '' });
  }

  async usage() {
    return { cpuSeconds: 0, memoryBytes: 0 };
  }
}

class EchoDriver implements Driver {
  readonly mode = 'echo';
  readonly live = new Set<EchoInstance>();

  health() {
    return { ok: true, detail: `in-process echo, ${this.live.size} instances` };
  }

  async prepare(): Promise<void> {}

  async start(spec: InstanceSpec): Promise<RunningInstance> {
    const inst = new EchoInstance(spec.instanceId, spec);
    this.live.add(inst);
    void inst.exited.then(() => this.live.delete(inst));
    return inst;
  }

  async close(): Promise<void> {
    await Promise.all([...this.live].map((i) => i.stop()));
  }
}

const echoDriver: DriverFactory = {
  mode: 'echo',
  async create() {
    return { driver: new EchoDriver() };
  },
};

describe('a driver registered from outside the built-in list', () => {
  it('serves functions through the real gateway and pool, shows in /health, /instances and /metrics, and stops with the daemon', async () => {
    const d = await startTestDaemon({ start: { drivers: [echoDriver] } });
    expect((await d.app.inject({ method: 'GET', url: '/health' })).json().drivers.echo).toMatchObject({ ok: true, detail: expect.stringContaining('in-process echo') });

    await deploy(d, 'echoed', 'def handle(r):\n    return "never runs"', { config: { execution_mode: 'echo', max_instances: 2 } });
    const res = await invoke(d, 'echoed', { hello: 'world' }, { path: '/sub' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ echo: '{"hello":"world"}', method: 'POST', path: '/sub', fn: 'echoed', version: 1 });
    expect(res.headers['x-faas-start']).toBe('cold');
    const again = await invoke(d, 'echoed', {});
    expect(again.headers['x-faas-start']).toBe('warm');
    expect(again.headers['x-echo-calls']).toBe('2');

    const instances = (await d.app.inject({ method: 'GET', url: '/instances', headers: DEMO })).json().instances;
    expect(instances).toEqual([expect.objectContaining({ function: 'echoed', mode: 'echo', state: 'idle', invocations: 2 })]);
    const metrics = (await d.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/faasd_invocations_total\{function="echoed",mode="echo",code="200"\} 2/);
    const stats = (await d.app.inject({ method: 'GET', url: '/stats', headers: DEMO })).json();
    expect(stats.functions.by_mode).toMatchObject({ echo: 1, process: 0, container: 0 });

    // An update rolls the pool over to the new version like any other mode.
    await d.app.inject({ method: 'PUT', url: '/functions/echoed', headers: DEMO, payload: { config: { memory: '256Mi' } } });
    expect((await invoke(d, 'echoed', {})).json().version).toBe(2);
    // An admin stops the instance; the next call starts another.
    const id = d.manager.listInstances().find((i) => i.function === 'echoed' && i.state === 'idle')!.id;
    expect((await d.app.inject({ method: 'DELETE', url: `/instances/${id}`, headers: ADMIN })).statusCode).toBe(204);
    expect((await invoke(d, 'echoed', {})).statusCode).toBe(200);
  });

  it('a function asking for a mode no driver provides is 422 naming the modes there are', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'nowhere', code: 'def handle(r):\n    return 1', config: { execution_mode: 'echo' } } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: 'DeployFailed', field: 'config.execution_mode' });
    expect(res.json().message).toMatch(/echo mode is not available.*process, container/);
  });
});
