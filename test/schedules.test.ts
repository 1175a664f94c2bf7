// Cron schedules through the real daemon: each tick queues an async job (trigger cron) that runs
// in a real sandbox; skips, deletes, updates and restarts on the same SQLite registry.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import type { Daemon } from '../src/daemon.js';
import { DEMO, startConfiguredDaemon, startTestDaemon, testConfig } from './helpers/daemon.js';
import { deploy, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('schedule runs skipped: they run functions in strict sandboxes, which need root');

const EVERY_SECOND = '* * * * * *';
const QUICK = 'def handle(r):\n    return {"trigger": r.get_header("x-faas-trigger"), "team": r.get_header("x-team"), "got": r.get_json()}';
const SLOW = 'import time\ndef handle(r):\n    time.sleep(2.5)\n    return 1';

interface JobView {
  id: string;
  status: string;
  trigger: string;
  started_at: string | null;
  finished_at: string | null;
  result: { body: string } | null;
}

interface ScheduleView {
  function: string;
  index: number;
  cron: string;
  timezone: string;
  next_run: string | null;
  last_run: string | null;
  last_job_id: string | null;
  last_status: string | null;
  skipped: number;
}

async function jobsOf(d: Daemon, fn: string): Promise<JobView[]> {
  const res = await d.app.inject({ method: 'GET', url: `/invocations?function=${fn}&limit=500`, headers: DEMO });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().invocations;
}

async function schedules(d: Daemon): Promise<ScheduleView[]> {
  const res = await d.app.inject({ method: 'GET', url: '/schedules', headers: DEMO });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().schedules;
}

async function update(d: Daemon, name: string, config: Record<string, unknown>) {
  const res = await d.app.inject({ method: 'PUT', url: `/functions/${name}`, headers: DEMO, payload: { config } });
  expect(res.statusCode, res.body).toBe(200);
}

/** No job of `fn` is queued after this point: the count stays put for longer than two ticks. */
async function expectNoNewJobs(d: Daemon, fn: string) {
  const before = (await jobsOf(d, fn)).length;
  await sleep(2500);
  expect((await jobsOf(d, fn)).length).toBe(before);
}

describe('cron schedules are validated like every other config key', () => {
  const create = async (d: Daemon, schedules: unknown) =>
    d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'tick', code: 'def handle(r):\n    return 1', config: { schedules } } });

  it('a bad cron expression is 400 naming config.schedules[0].cron', async () => {
    const d = await startTestDaemon();
    for (const cron of ['every minute', '61 * * * *', '* * * * * * *', '0 0 30 2 *']) {
      const res = await create(d, [{ cron }]);
      expect(res.statusCode, cron).toBe(400);
      expect(res.json()).toMatchObject({ error: 'BadRequest', field: 'config.schedules[0].cron', message: expect.stringContaining('expected a cron expression') });
    }
    expect((await create(d, [{ timezone: 'UTC' }])).json()).toMatchObject({ field: 'config.schedules[0].cron' });
  });

  it('a bad time zone is 400 naming config.schedules[0].timezone, and more than 20 schedules are refused', async () => {
    const d = await startTestDaemon();
    const res = await create(d, [{ cron: '*/5 * * * *', timezone: 'Mars/Olympus_Mons' }]);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'config.schedules[0].timezone', message: expect.stringContaining('IANA time zone') });
    const many = Array.from({ length: 21 }, () => ({ cron: '* * * * *' }));
    expect((await create(d, many)).json()).toMatchObject({ field: 'config.schedules' });
    expect((await create(d, [{ cron: '* * * * *', every: 5 }])).json()).toMatchObject({ field: 'config.schedules[0].every' });
  });

  it('faas_config.yaml names the bad schedule of a declared function', () => {
    expect(() => testConfig({ config: { functions: { tick: { code: 'def handle(r):\n    return 1', schedules: [{ cron: '* * * *' }] } } } })).toThrow(
      /functions\.tick\.schedules\[0\]\.cron: got "\* \* \* \*", expected a cron expression/,
    );
  });
});

describe.skipIf(!isRoot)('cron schedules', () => {
  it('a 1-second schedule queues jobs that run with X-Faas-Trigger: cron, its body and headers, listed with trigger cron', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'every-second', QUICK, { config: { schedules: [{ cron: EVERY_SECOND, timezone: 'Europe/Paris', body: { n: 7 }, headers: { 'X-Team': 'ops' } }] } });
    const done = await vi.waitFor(
      async () => {
        const jobs = (await jobsOf(d, 'every-second')).filter((j) => j.status === 'succeeded');
        expect(jobs.length).toBeGreaterThanOrEqual(2);
        return jobs;
      },
      { timeout: 15_000, interval: 100 },
    );
    for (const j of done) {
      expect(j.trigger).toBe('cron');
      expect(JSON.parse(j.result!.body)).toEqual({ trigger: 'cron', team: 'ops', got: { n: 7 } });
    }
    const [s] = await schedules(d);
    expect(s).toMatchObject({ function: 'every-second', index: 0, cron: EVERY_SECOND, timezone: 'Europe/Paris', skipped: 0, last_job_id: expect.any(String), last_status: expect.any(String) });
    expect(Date.parse(s!.next_run!)).toBeGreaterThan(Date.parse(s!.last_run!));
    expect(Date.parse(s!.next_run!) - Date.now()).toBeLessThanOrEqual(1000);
  });

  it('a slow function on a 1-second schedule skips the ticks that would overlap and never has two jobs queued or running; overlap: true skips none', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'slow', SLOW, { config: { schedules: [{ cron: EVERY_SECOND }] } });
    await deploy(d, 'slow-overlap', SLOW, { config: { schedules: [{ cron: EVERY_SECOND, overlap: true }] } });
    const until = Date.now() + 7000;
    while (Date.now() < until) {
      const active = (await jobsOf(d, 'slow')).filter((j) => j.status === 'queued' || j.status === 'running');
      expect(active.length).toBeLessThanOrEqual(1);
      await sleep(100);
    }
    const byName = new Map((await schedules(d)).map((s) => [s.function, s]));
    expect(byName.get('slow')!.skipped).toBeGreaterThan(0);
    expect(byName.get('slow-overlap')!.skipped).toBe(0);
    // One run after another: each started after the previous one finished.
    const runs = (await jobsOf(d, 'slow')).filter((j) => j.started_at !== null).sort((a, b) => Date.parse(a.started_at!) - Date.parse(b.started_at!));
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < runs.length; i++) expect(Date.parse(runs[i]!.started_at!)).toBeGreaterThanOrEqual(Date.parse(runs[i - 1]!.finished_at!));
    // Without the guard a tick a second queues a job a second.
    expect((await jobsOf(d, 'slow-overlap')).length).toBeGreaterThanOrEqual(5);
  }, 30_000);

  it('deleting the function stops its schedule: no new jobs, and GET /schedules no longer lists it', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'doomed', QUICK, { config: { schedules: [{ cron: EVERY_SECOND }] } });
    await vi.waitFor(async () => expect((await jobsOf(d, 'doomed')).length).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 100 });
    expect((await d.app.inject({ method: 'DELETE', url: '/functions/doomed', headers: DEMO })).statusCode).toBe(204);
    expect(await schedules(d)).toEqual([]);
    await expectNoNewJobs(d, 'doomed');
  });

  it('an update that removes the schedule stops it, and one that adds it back starts it again', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'retimed', QUICK, { config: { schedules: [{ cron: EVERY_SECOND }] } });
    await vi.waitFor(async () => expect((await jobsOf(d, 'retimed')).length).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 100 });
    await update(d, 'retimed', { schedules: [] });
    expect(await schedules(d)).toEqual([]);
    await expectNoNewJobs(d, 'retimed');

    const before = (await jobsOf(d, 'retimed')).length;
    await update(d, 'retimed', { schedules: [{ cron: '*/2 * * * * *', body: 'plain text' }] });
    expect(await schedules(d)).toMatchObject([{ function: 'retimed', cron: '*/2 * * * * *', timezone: 'UTC' }]);
    await vi.waitFor(async () => expect((await jobsOf(d, 'retimed')).length).toBeGreaterThan(before), { timeout: 10_000, interval: 100 });
  });

  it('ticks missed while the daemon was down run once at start with catch_up, and not at all without', async () => {
    const config = testConfig();
    const first = await startConfiguredDaemon(config);
    await deploy(first, 'caught-up', QUICK);
    await deploy(first, 'not-caught-up', QUICK);
    // Ticks at s, s+4, s+5 and s+6 (seconds of the minute): the first with the daemon up, three
    // while it is down, and none again for nearly a minute.
    const s = Math.ceil(Date.now() / 1000) + 3;
    const cron = `${[0, 4, 5, 6].map((k) => (s + k) % 60).join(',')} * * * * *`;
    await update(first, 'caught-up', { schedules: [{ cron, catch_up: true }] });
    await update(first, 'not-caught-up', { schedules: [{ cron }] });
    for (const fn of ['caught-up', 'not-caught-up']) await vi.waitFor(async () => expect((await jobsOf(first, fn)).length).toBe(1), { timeout: 10_000, interval: 50 });
    await first.close();
    expect(Date.now(), 'the first daemon must be down before the second tick').toBeLessThan((s + 4) * 1000);

    await sleep((s + 7) * 1000 + 200 - Date.now());
    const second = await startConfiguredDaemon(config);
    await sleep(1500);
    expect((await jobsOf(second, 'caught-up')).map((j) => j.trigger)).toEqual(['cron', 'cron']);
    expect(await jobsOf(second, 'not-caught-up')).toHaveLength(1);
    const caught = (await schedules(second)).find((x) => x.function === 'caught-up')!;
    expect(caught.last_job_id).toBe((await jobsOf(second, 'caught-up'))[0]!.id);
  }, 40_000);
});
