// The overview: headline numbers, live charts and every function with its health.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { count, ms, percent, rate, runtimeLabel } from '../format';
import { go, href } from '../router';
import { useSession } from '../session';
import { chartData, type FunctionRow, type Telemetry, useTelemetry } from '../telemetry';
import { Chart } from '../components/chart';
import { Icon } from '../components/icons';
import { Badge, Card, Empty, ErrorCallout, Loading, StateBadge } from '../components/ui';

const C = { indigo: '#4f46e5', amber: '#d97706', teal: '#0d9488', rose: '#e11d48', slate: '#475569', sky: '#0284c7' };
const DASH = { dashed: [7, 4], dotted: [2, 3] };
const MODE_STYLE = [{ color: C.indigo }, { color: C.amber, dash: DASH.dashed }, { color: C.teal, dash: DASH.dotted }];

export function Overview({ telemetry }: { telemetry: Telemetry }): JSX.Element {
  const { can } = useSession();
  const t = useTelemetry(telemetry);
  if (!can('manage')) {
    return (
      <div class="page">
        <PageHead title="Overview" />
        <ErrorCallout
          error={Object.assign(new Error('This key has no "manage" scope: it can invoke functions but not list them or read their stats. Open a function by its name to invoke it.'), { status: 403 })}
        />
        <OpenByName />
      </div>
    );
  }
  if (!t.loaded) return <Loading what="the overview" />;
  const last = t.samples[t.samples.length - 1];
  const d = chartData(t.samples, t.modes);
  const rows = t.rows();
  const now = d.rps.length ? d.rps[d.rps.length - 1]! : 0;
  const calls = t.samples.length > 1 ? last!.stats.invocations.total - t.samples[0]!.stats.invocations.total : 0;
  const errors = t.samples.length > 1 ? last!.stats.invocations.errors - t.samples[0]!.stats.invocations.errors : 0;

  return (
    <div class="page">
      <PageHead
        title="Overview"
        actions={
          rows.length > 0 ? (
            <a class="btn btn-primary" href={href({ page: 'new' })}>
              <Icon name="plus" /> <span>New function</span>
            </a>
          ) : undefined
        }
      />
      {t.error && <ErrorCallout error={t.error} />}
      {rows.length === 0 && <Welcome />}
      {last && (
        <div class="kpis">
          <Kpi
            label="Functions"
            value={String(last.stats.functions.total)}
            sub={Object.entries(last.stats.functions.by_mode)
              .map(([m, n]) => `${n} ${m}`)
              .join(' · ')}
          />
          <Kpi
            label="Instances"
            value={String(last.stats.instances.total)}
            sub={`${last.stats.instances.by_state.busy ?? 0} busy · ${last.stats.instances.by_state.idle ?? 0} idle · ${last.stats.instances.by_state.starting ?? 0} starting`}
          />
          <Kpi label="Requests / s" value={rate(now)} sub={`${count(last.stats.invocations.total)} since start`} testid="kpi-rps" />
          <Kpi label="p95 latency" value={ms(last.stats.latency_ms.p95)} sub={`p50 ${ms(last.stats.latency_ms.p50)}`} />
          <Kpi label="Error rate" value={percent(calls > 0 ? errors / calls : null)} sub="last 5 minutes" />
          <Kpi label="Async queue" value={String(last.stats.async.queued)} sub={`${last.stats.async.running} running`} />
        </div>
      )}
      <div class="charts">
        <Card>
          <Chart
            title="Requests per second"
            data={[d.t, d.rps, d.errs]}
            series={[
              { label: 'requests', color: C.indigo, fill: '#4f46e514' },
              { label: 'errors', color: C.rose, dash: DASH.dashed },
            ]}
            format={rate}
          />
        </Card>
        <Card>
          <Chart
            title="Latency (recent calls)"
            data={[d.t, d.p50, d.p95]}
            series={[
              { label: 'p50', color: C.teal },
              { label: 'p95', color: C.amber, dash: DASH.dashed },
            ]}
            format={(v) => ms(v)}
            minMax={5}
          />
        </Card>
        <Card>
          <Chart
            title="Warm and cold starts (per 2 s)"
            data={[d.t, d.warm, d.prewarmed, d.cold]}
            series={[
              { label: 'warm', color: C.teal },
              { label: 'pre-warmed', color: C.sky, dash: DASH.dotted },
              { label: 'cold', color: C.amber, dash: DASH.dashed },
            ]}
            format={(v) => String(Math.round(v))}
            integer
          />
        </Card>
        <Card>
          <Chart
            title="Instances per mode"
            data={[d.t, ...d.byMode]}
            series={t.modes.map((m, i) => ({ label: m, ...MODE_STYLE[i % MODE_STYLE.length]! }))}
            format={(v) => String(Math.round(v))}
            integer
          />
        </Card>
        <Card>
          <Chart
            title="Async queue"
            data={[d.t, d.queued, d.running]}
            series={[
              { label: 'queued', color: C.slate, fill: '#47556914' },
              { label: 'running', color: C.indigo, dash: DASH.dashed },
            ]}
            format={(v) => String(Math.round(v))}
            integer
          />
        </Card>
      </div>
      <Card title="Functions" actions={<span class="muted small">refreshes every 2 s</span>}>
        {rows.length === 0 ? (
          <Empty title="No functions yet">
            <a href={href({ page: 'new' })}>Create one from a template</a> and invoke it from here.
          </Empty>
        ) : (
          <FunctionTable rows={rows} />
        )}
      </Card>
    </div>
  );
}

/** For keys that cannot list functions: go to one by its name, to invoke it. */
function OpenByName(): JSX.Element {
  const [name, setName] = useState('');
  return (
    <Card title="Invoke a function">
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) go({ page: 'function', name: name.trim(), tab: 'code' });
        }}
      >
        <label class="sr-only" for="open-name">
          Function name
        </label>
        <input id="open-name" placeholder="function name, e.g. hello-world" value={name} onInput={(e) => setName(e.currentTarget.value)} spellcheck={false} />
        <button type="submit" class="btn btn-primary">
          Open
        </button>
      </form>
    </Card>
  );
}

/** The first screen of a new faasd: what to do, in three steps, and the button that starts it. */
function Welcome(): JSX.Element {
  return (
    <section class="welcome" aria-labelledby="welcome-title">
      <div>
        <h2 id="welcome-title">Deploy your first function</h2>
        <ol>
          <li>Pick a template (Python or JavaScript) and give it a name.</li>
          <li>
            Press <strong>Create and deploy</strong>: faasd checks the code and starts it in a sandbox.
          </li>
          <li>
            Press <strong>Send</strong> to invoke it, and watch its logs and numbers here.
          </li>
        </ol>
      </div>
      <a class="btn btn-primary" href={href({ page: 'new' })}>
        <Icon name="plus" /> <span>New function</span>
      </a>
    </section>
  );
}

function FunctionTable({ rows }: { rows: FunctionRow[] }): JSX.Element {
  return (
    <div class="table-scroll">
      <table class="table" aria-label="Functions">
        <thead>
          <tr>
            <th>Name</th>
            <th>Runtime</th>
            <th>Mode</th>
            <th class="num">Version</th>
            <th>Instances</th>
            <th class="num">Invocations</th>
            <th class="num">Req/s</th>
            <th class="num">Errors (5 min)</th>
            <th class="num">p95</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.name}>
              <td>
                <a class="strong" href={href({ page: 'function', name: r.name, tab: 'code' })}>
                  {r.name}
                </a>
              </td>
              <td>{runtimeLabel(r.runtime)}</td>
              <td>
                <Badge>{r.execution_mode}</Badge>
              </td>
              <td class="num">v{r.version}</td>
              <td>
                <InstanceStates counts={r.instances} />
              </td>
              <td class="num">{count(r.stats?.invocations.total ?? 0)}</td>
              <td class="num">{rate(r.rps)}</td>
              <td class="num">{r.errorRate !== null && r.errorRate > 0 ? <Badge tone="error">{percent(r.errorRate)}</Badge> : percent(r.errorRate)}</td>
              <td class="num">{ms(r.stats?.latency_ms.p95)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function InstanceStates({ counts }: { counts: Record<string, number> }): JSX.Element {
  const entries = Object.entries(counts).filter(([s, n]) => s !== 'total' && n > 0);
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <span class="states">
      {entries.map(([s, n]) => (
        <span key={s}>
          {n} <StateBadge state={s} />
        </span>
      ))}
    </span>
  );
}

function Kpi({ label, value, sub, testid }: { label: string; value: string; sub?: string; testid?: string }): JSX.Element {
  return (
    <div class="kpi" data-testid={testid}>
      <div class="kpi-label">{label}</div>
      <div class="kpi-value">{value}</div>
      {sub && <div class="kpi-sub">{sub}</div>}
    </div>
  );
}

export function PageHead({ title, sub, actions, badges }: { title: string; sub?: JSX.Element | string; actions?: JSX.Element; badges?: JSX.Element }): JSX.Element {
  return (
    <header class="page-head">
      <div>
        <h1>
          {title} {badges}
        </h1>
        {sub && <div class="page-sub muted">{sub}</div>}
      </div>
      {actions && <div class="page-actions">{actions}</div>}
    </header>
  );
}
