// One function: code and a test panel side by side, its config, logs, instances and versions.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type ApiError, type FunctionDetails, health } from '../api';
import { ago, isPython, runtimeLabel } from '../format';
import { go, href } from '../router';
import { useSession } from '../session';
import type { Telemetry } from '../telemetry';
import { CodeEditor } from '../components/code-editor';
import { Badge, Button, Callout, Card, ErrorCallout, Loading } from '../components/ui';
import { ConfigForm, type ConfigValues, configFrom, type FormError, valuesFrom } from './config-form';
import { InstancesPanel } from './instances-panel';
import { InvokePanel } from './invoke-panel';
import { LogsPanel } from './logs-panel';
import { InstanceStates, PageHead } from './overview';
import { VersionsPanel } from './versions-panel';

const TABS = [
  { id: 'code', label: 'Code & test' },
  { id: 'config', label: 'Configuration' },
  { id: 'logs', label: 'Logs' },
  { id: 'instances', label: 'Instances' },
  { id: 'versions', label: 'Versions' },
];

export function FunctionPage({ name, tab, telemetry }: { name: string; tab: string; telemetry: Telemetry }): JSX.Element {
  const { api, can, toast } = useSession();
  const [fn, setFn] = useState<FunctionDetails | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [code, setCode] = useState('');
  const [revision, setRevision] = useState(0);
  const [form, setForm] = useState<ConfigValues | null>(null);
  const [deploying, setDeploying] = useState(false);
  const [deployError, setDeployError] = useState<ApiError | Error | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [modes, setModes] = useState<string[]>([]);
  const [versions, setVersions] = useState<boolean | null>(null);

  const show = (f: FunctionDetails) => {
    setFn(f);
    setCode(f.code);
    setRevision((r) => r + 1);
    setForm(valuesFrom(f.config));
  };

  useEffect(() => {
    if (!can('manage')) return;
    setFn(null);
    setLoadError(null);
    setDeployError(null);
    setFieldErrors({});
    api.fn(name).then(show, (e) => setLoadError(e as ApiError));
    // The versions API is newer than this console may be: its tab shows only where it answers.
    api.versions(name).then(
      () => setVersions(true),
      (e) => setVersions(!(e as ApiError).routeMissing),
    );
    void health().then((h) => setModes(Object.entries(h?.drivers ?? {}).flatMap(([m, d]) => (d.ok ? [m] : []))));
  }, [api, name]);

  if (!can('manage')) {
    // An invoke-only key can call the function, not read it.
    return (
      <div class="page">
        <PageHead title={name} sub="This key can invoke functions; reading and deploying them needs the manage scope." />
        <Card title="Invoke">
          <InvokePanel name={name} />
        </Card>
      </div>
    );
  }
  if (loadError) {
    return (
      <div class="page">
        <PageHead title={name} />
        <ErrorCallout error={loadError} />
        <p>
          <a href={href({ page: 'overview' })}>Back to the overview</a>
        </p>
      </div>
    );
  }
  if (!fn || !form) return <Loading what={name} />;

  const dirtyCode = code !== fn.code;
  const dirtyConfig = JSON.stringify(form) !== JSON.stringify(valuesFrom(fn.config));
  const deploy = async () => {
    setDeployError(null);
    setFieldErrors({});
    let config: Record<string, unknown>;
    try {
      config = configFrom(form);
    } catch (err) {
      const fe = err as FormError;
      setFieldErrors({ [fe.field]: fe.message });
      if (tab !== 'config') go({ page: 'function', name, tab: 'config' });
      return;
    }
    setDeploying(true);
    try {
      const updated = await api.update(name, { code, config });
      show(updated);
      toast(`Deployed ${name} version ${updated.version}`);
      telemetry.refresh();
    } catch (err) {
      const e = err as ApiError;
      if (e.field?.startsWith('config.')) {
        setFieldErrors({ [e.field]: e.message });
        if (tab !== 'config') go({ page: 'function', name, tab: 'config' });
      } else setDeployError(e);
    } finally {
      setDeploying(false);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete ${name}? Its instances stop and its versions are removed.`)) return;
    try {
      await api.remove(name);
      toast(`Deleted ${name}`);
      telemetry.refresh();
      go({ page: 'overview' });
    } catch (err) {
      setDeployError(err as ApiError);
    }
  };

  const tabs = TABS.filter((t) => t.id !== 'versions' || versions);
  const current = tabs.some((t) => t.id === tab) ? tab : 'code';
  const multiFile = (fn.files?.length ?? 0) > 1;
  return (
    <div class="page">
      <PageHead
        title={fn.name}
        badges={
          <span class="head-badges">
            <Badge tone="accent">{runtimeLabel(fn.runtime)}</Badge>
            <Badge>{fn.execution_mode}</Badge>
            <Badge tone="info" title="the live version">
              <span data-testid="live-version">v{fn.version}</span>
            </Badge>
          </span>
        }
        sub={
          <>
            Updated {ago(fn.updated_at)} · instances: <InstanceStates counts={fn.instances} />
          </>
        }
        actions={
          <>
            {(dirtyCode || dirtyConfig) && <Badge tone="warn">unsaved changes</Badge>}
            <Button kind="danger" icon="trash" onClick={remove}>
              Delete
            </Button>
            <Button kind="primary" icon="rocket" busy={deploying} onClick={deploy}>
              Deploy
            </Button>
          </>
        }
      />
      <nav class="tabs" aria-label="Function sections">
        {tabs.map((t) => (
          <a key={t.id} aria-current={current === t.id ? 'page' : undefined} href={href({ page: 'function', name, tab: t.id })} class="tab">
            {t.label}
          </a>
        ))}
      </nav>
      {deployError && <ErrorCallout error={deployError} />}
      {current === 'code' && (
        <div class="split">
          <Card title="Code" class="card-flush" actions={<span class="muted small">{fn.handler ? `handler ${fn.handler}` : isPython(fn.runtime) ? 'def handle(request)' : 'exports.handler'}</span>}>
            {multiFile && (
              <Callout tone="info" title={`${fn.files!.length} files`}>
                The editor shows the entry file; the others (
                {fn
                  .files!.map((f) => f.path)
                  .slice(0, 6)
                  .join(', ')}
                ) are kept as they are.
              </Callout>
            )}
            <CodeEditor value={code} revision={revision} language={isPython(fn.runtime) ? 'python' : 'node'} onChange={setCode} onSave={deploy} label={`Code of ${fn.name}`} size="lg" />
          </Card>
          <Card title="Test">
            <InvokePanel name={fn.name} onInvoked={() => telemetry.refresh()} />
          </Card>
        </div>
      )}
      {current === 'config' && (
        <Card title="Configuration" actions={<span class="muted small">Deploy applies it as a new version</span>}>
          {Object.keys(fieldErrors).some((f) => !f.startsWith('config.') || !(f.slice(7) in form)) && <Callout title="The API refused the config">{Object.values(fieldErrors).join(' ')}</Callout>}
          <ConfigForm values={form} onChange={setForm} errors={fieldErrors} modes={modes.length ? modes : [fn.execution_mode]} />
        </Card>
      )}
      {current === 'logs' && <LogsPanel name={fn.name} />}
      {current === 'instances' && <InstancesPanel name={fn.name} />}
      {current === 'versions' && versions && (
        <VersionsPanel
          name={fn.name}
          live={fn.version}
          onRolledBack={(f) => {
            show(f);
            telemetry.refresh();
          }}
        />
      )}
    </div>
  );
}
