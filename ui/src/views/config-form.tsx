// A function's config as a form. Values go to the API as typed; what the API refuses comes
// back as its own message, shown under the field it names (`field: "config.memory"`).
import type { JSX } from 'preact';
import type { FunctionConfig } from '../api';

export interface ConfigValues {
  execution_mode: string;
  timeout: string;
  memory: string;
  cpu_limit: string;
  min_instances: string;
  max_instances: string;
  max_concurrency: string;
  /** Calls in flight per instance; empty: the daemon's default (one). */
  concurrency: string;
  network: string;
  environment: string;
  dependencies: string;
}

export function valuesFrom(c: FunctionConfig): ConfigValues {
  return {
    execution_mode: c.execution_mode,
    timeout: String(c.timeout),
    memory: c.memory,
    cpu_limit: c.cpu_limit,
    min_instances: String(c.min_instances),
    max_instances: String(c.max_instances),
    max_concurrency: String(c.max_concurrency ?? 0),
    concurrency: typeof c.concurrency === 'number' ? String(c.concurrency) : '',
    network: c.network ?? 'none',
    environment: Object.entries(c.environment ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    dependencies: (c.dependencies ?? []).join('\n'),
  };
}

/** A number when the text is one, else the text itself: the API then says what it expected. */
function num(s: string): number | string {
  const t = s.trim();
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
}

export class FormError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The config to send; only the keys the form edits (the API keeps the others: async, schedules, ...). */
export function configFrom(v: ConfigValues): Record<string, unknown> {
  const environment: Record<string, string> = {};
  v.environment.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new FormError('config.environment', `config.environment: line ${i + 1} is "${line.trim()}", expected NAME=value`);
    environment[line.slice(0, eq).trim()] = line.slice(eq + 1);
  });
  return {
    execution_mode: v.execution_mode,
    timeout: num(v.timeout),
    memory: v.memory.trim(),
    cpu_limit: v.cpu_limit.trim(),
    min_instances: num(v.min_instances),
    max_instances: num(v.max_instances),
    max_concurrency: num(v.max_concurrency),
    // Empty: back to the default (one call at a time), also on an update.
    concurrency: v.concurrency.trim() ? num(v.concurrency) : null,
    network: v.network,
    environment,
    dependencies: v.dependencies
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

interface FieldSpec {
  key: keyof ConfigValues;
  label: string;
  help: string;
  kind?: 'text' | 'number' | 'textarea' | 'select';
  options?: string[];
  placeholder?: string;
}

export function ConfigForm({
  values,
  onChange,
  errors,
  modes,
  disabled,
}: {
  values: ConfigValues;
  onChange: (v: ConfigValues) => void;
  /** Messages by field, as the API names them (config.memory). */
  errors: Record<string, string>;
  modes: string[];
  disabled?: boolean;
}): JSX.Element {
  const fields: FieldSpec[] = [
    { key: 'execution_mode', label: 'Execution mode', help: 'process: a sandboxed process; container: a Docker container.', kind: 'select', options: modes },
    { key: 'timeout', label: 'Timeout (seconds)', help: 'A call that runs longer is stopped with 504.', kind: 'number' },
    { key: 'memory', label: 'Memory', help: 'Per instance, e.g. 128Mi or 1Gi.', placeholder: '128Mi' },
    { key: 'cpu_limit', label: 'CPU limit', help: 'Cores: 0.5, 2, or millicores: 500m.', placeholder: '1' },
    { key: 'min_instances', label: 'Min instances', help: 'Kept warm at all times.', kind: 'number' },
    { key: 'max_instances', label: 'Max instances', help: 'More calls queue.', kind: 'number' },
    { key: 'max_concurrency', label: 'Max concurrency', help: 'Calls in flight at once; 0 = bounded by max instances.', kind: 'number' },
    { key: 'concurrency', label: 'Calls per instance', help: 'In flight on one instance, for async handlers; empty or 1: one at a time.', kind: 'number', placeholder: '1' },
    { key: 'network', label: 'Network (container mode)', help: 'none: no network; bridge: outbound access.', kind: 'select', options: ['none', 'bridge'] },
    { key: 'environment', label: 'Environment', help: 'One NAME=value per line.', kind: 'textarea', placeholder: 'GREETING=hello' },
    { key: 'dependencies', label: 'Dependencies', help: 'pip or npm specs, one per line; installed at deploy.', kind: 'textarea', placeholder: 'requests==2.32.3' },
  ];
  const set = (k: keyof ConfigValues, val: string) => onChange({ ...values, [k]: val });
  return (
    <div class="form-grid">
      {fields.map((f) => {
        const field = `config.${f.key}`;
        const err = errors[field];
        const id = `cfg-${f.key}`;
        const common = {
          id,
          name: f.key,
          disabled,
          'aria-invalid': err ? ('true' as const) : undefined,
          'aria-describedby': `${id}-help${err ? ` ${id}-err` : ''}`,
        };
        return (
          <div class={`field ${f.kind === 'textarea' ? 'field-wide' : ''}`} key={f.key}>
            <label class="field-label" for={id}>
              {f.label}
            </label>
            {f.kind === 'select' ? (
              <select {...common} value={values[f.key]} onChange={(e) => set(f.key, e.currentTarget.value)}>
                {[...new Set([...(f.options ?? []), values[f.key]])].map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : f.kind === 'textarea' ? (
              <textarea {...common} rows={4} class="mono" placeholder={f.placeholder} value={values[f.key]} onInput={(e) => set(f.key, e.currentTarget.value)} spellcheck={false} />
            ) : (
              <input
                {...common}
                type="text"
                inputMode={f.kind === 'number' ? 'decimal' : undefined}
                placeholder={f.placeholder}
                value={values[f.key]}
                onInput={(e) => set(f.key, e.currentTarget.value)}
                spellcheck={false}
              />
            )}
            <div class="field-help" id={`${id}-help`}>
              {f.help}
            </div>
            {err && (
              <div class="field-error" id={`${id}-err`} role="alert">
                {err}
              </div>
            )}
          </div>
        );
      })}
    </div>
  );
}
