// One function's numbers and instances (GET /stats/functions/:name, every 2 s), with a stop
// button for keys with the admin scope (DELETE /instances/:id).
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiError, FunctionStats } from '../api';
import { bytes, count, ms } from '../format';
import { useSession } from '../session';
import { POLL_MS } from '../telemetry';
import { Button, Card, Empty, ErrorCallout, Loading, StateBadge } from '../components/ui';

export function InstancesPanel({ name }: { name: string }): JSX.Element {
  const { api, can, toast } = useSession();
  const [stats, setStats] = useState<FunctionStats | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [stopping, setStopping] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let alive = true;
    const load = () =>
      api.fnStats(name).then(
        (s) => {
          if (!alive) return;
          setStats(s);
          setError(null);
        },
        (e) => alive && setError(e as ApiError),
      );
    void load();
    const timer = setInterval(load, POLL_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [api, name, tick]);

  const stop = async (id: string) => {
    setStopping(id);
    try {
      await api.stopInstance(id);
      toast(`Instance ${id} stopped`);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setStopping(null);
      setTick((n) => n + 1);
    }
  };

  if (!stats && !error) return <Loading what="instances" />;
  const admin = can('admin');
  return (
    <div class="stack">
      {error && <ErrorCallout error={error} />}
      {stats && (
        <>
          <div class="kpis kpis-compact">
            <Stat label="Invocations" value={count(stats.invocations.total)} sub={`version ${stats.version}, ${stats.mode} mode`} />
            <Stat
              label="Errors"
              value={count(stats.invocations.errors)}
              sub={stats.invocations.total ? `${((stats.invocations.errors / stats.invocations.total) * 100).toFixed(1)}% of calls` : 'no calls yet'}
            />
            <Stat label="Latency p95" value={ms(stats.latency_ms.p95)} sub={`p50 ${ms(stats.latency_ms.p50)} · p99 ${ms(stats.latency_ms.p99)}`} />
            <Stat label="Cold starts" value={String(stats.invocations.cold_starts)} sub={`${stats.invocations.prewarmed_starts} from pre-warmed instances`} />
            <Stat label="Cold start p95" value={ms(stats.cold_start_ms.p95)} sub={`p50 ${ms(stats.cold_start_ms.p50)}`} />
            <Stat label="Queued calls" value={String(stats.queue_depth)} sub="waiting for an instance" />
          </div>
          <Card title={`Instances (${stats.instances.length})`} actions={!admin && <span class="muted small">Stopping an instance needs the admin scope</span>}>
            {stats.instances.length === 0 ? (
              <Empty title="No instances running">The next call starts one (a cold start), or set min instances to keep some warm.</Empty>
            ) : (
              <div class="table-scroll">
                <table class="table" aria-label="Instances">
                  <thead>
                    <tr>
                      <th>Instance</th>
                      <th>State</th>
                      <th class="num">Invocations</th>
                      <th class="num">CPU</th>
                      <th class="num">Memory</th>
                      {admin && <th class="num">Actions</th>}
                    </tr>
                  </thead>
                  <tbody>
                    {stats.instances.map((i) => (
                      <tr key={i.id}>
                        <td class="mono">{i.id}</td>
                        <td>
                          <StateBadge state={i.state} />
                        </td>
                        <td class="num">{i.invocations}</td>
                        <td class="num">{i.cpu_seconds === null ? '–' : `${i.cpu_seconds.toFixed(2)} s`}</td>
                        <td class="num">{bytes(i.memory_bytes)}</td>
                        {admin && (
                          <td class="num">
                            <Button kind="danger" icon="stop" busy={stopping === i.id} onClick={() => stop(i.id)} aria-label={`Stop instance ${i.id}`}>
                              Stop
                            </Button>
                          </td>
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
        </>
      )}
    </div>
  );
}

function Stat({ label, value, sub }: { label: string; value: string; sub: string }): JSX.Element {
  return (
    <div class="kpi">
      <div class="kpi-label">{label}</div>
      <div class="kpi-value kpi-value-sm">{value}</div>
      <div class="kpi-sub">{sub}</div>
    </div>
  );
}
