// Every deployed version, and a one-click rollback to any of them (GET /functions/:name/versions,
// POST /functions/:name/rollback), on daemons whose API has them.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiError, FunctionDetails, VersionInfo } from '../api';
import { ago } from '../format';
import { useSession } from '../session';
import { Badge, Button, Card, ErrorCallout, Loading } from '../components/ui';

export function VersionsPanel({ name, live, onRolledBack }: { name: string; live: number; onRolledBack: (fn: FunctionDetails) => void }): JSX.Element {
  const { api, can, toast } = useSession();
  const [versions, setVersions] = useState<VersionInfo[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<number | null>(null);

  useEffect(() => {
    let alive = true;
    api.versions(name).then(
      (r) => alive && setVersions([...r.versions].sort((a, b) => b.version - a.version)),
      (e) => alive && setError(e as ApiError),
    );
    return () => {
      alive = false;
    };
  }, [api, name, live]);

  const rollback = async (version: number) => {
    setBusy(version);
    setError(null);
    try {
      const fn = await api.rollback(name, version);
      toast(`Rolled back to version ${version}: live is now v${fn.version}`);
      onRolledBack(fn);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(null);
    }
  };

  if (!versions && !error) return <Loading what="versions" />;
  return (
    <Card title="Versions">
      {error && <ErrorCallout error={error} />}
      {versions && (
        <div class="table-scroll">
          <table class="table" aria-label="Versions">
            <thead>
              <tr>
                <th>Version</th>
                <th>Deployed</th>
                <th>By</th>
                <th>Change</th>
                <th class="num">Actions</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.version} data-version={v.version}>
                  <td>
                    <span class="strong">v{v.version}</span> {v.live && <Badge tone="ok">live</Badge>}
                  </td>
                  <td title={v.created_at}>{ago(v.created_at)}</td>
                  <td>{v.created_by ?? '–'}</td>
                  <td class="muted">{v.change ?? '–'}</td>
                  <td class="num">
                    {!v.live && v.retained === false && <span class="muted small">content not kept</span>}
                    {!v.live && v.retained !== false && can('manage') && (
                      <Button icon="history" busy={busy === v.version} disabled={busy !== null} onClick={() => rollback(v.version)} aria-label={`Roll back to version ${v.version}`}>
                        Roll back
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
