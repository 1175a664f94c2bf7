// GET /schedules: every cron schedule, when it runs next, and how its last run went.
import type { FastifyInstance } from 'fastify';
import type { ScheduleView } from '../../jobs/scheduler.js';
import { R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function scheduleView(s: ScheduleView) {
  return {
    function: s.function,
    index: s.index,
    cron: s.cron,
    timezone: s.timezone,
    overlap: s.overlap,
    catch_up: s.catchUp,
    next_run: iso(s.nextRunAt),
    last_run: iso(s.lastRunAt),
    last_job_id: s.lastJobId,
    last_status: s.lastStatus,
    skipped: s.skipped,
  };
}

export async function scheduleRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get<{ Querystring: { function?: string } }>(
    '/schedules',
    {
      config: { scope: 'manage' },
      schema: {
        summary: 'Every cron schedule: next and last run, last job',
        querystring: { type: 'object', additionalProperties: false, properties: { function: { type: 'string', maxLength: 63 } } },
        response: R.schedules,
      },
    },
    async (req) => {
      const schedules = deps.schedules.list(req.query.function).map(scheduleView);
      return { schedules, count: schedules.length };
    },
  );
}
