// Small building blocks every screen uses: badges that say their state in words (colour is
// only a second cue), cards, callouts for errors (a 403 says it is a missing scope), buttons.
import type { ComponentChildren, JSX } from 'preact';
import type { ApiError } from '../api';
import { Icon, type IconName } from './icons';

export type Tone = 'neutral' | 'ok' | 'warn' | 'error' | 'info' | 'accent';

export function Badge({ tone = 'neutral', children, title }: { tone?: Tone; children: ComponentChildren; title?: string }): JSX.Element {
  return (
    <span class={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

const STATE_TONES: Record<string, Tone> = { idle: 'ok', busy: 'info', starting: 'warn', stopping: 'neutral', unknown: 'neutral' };

export function StateBadge({ state }: { state: string }): JSX.Element {
  return <Badge tone={STATE_TONES[state] ?? 'neutral'}>{state}</Badge>;
}

const START_TONES: Record<string, Tone> = { warm: 'ok', prewarmed: 'info', cold: 'warn' };

export function StartBadge({ start }: { start: string }): JSX.Element {
  return (
    <Badge tone={START_TONES[start] ?? 'neutral'} title="x-faas-start: how the instance that served the call was started">
      {start} start
    </Badge>
  );
}

export function StatusBadge({ status }: { status: number }): JSX.Element {
  const tone: Tone = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'ok';
  return <Badge tone={tone}>{`${status} ${STATUS_TEXT[status] ?? ''}`.trim()}</Badge>;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  422: 'Unprocessable',
  429: 'Too Many Requests',
  500: 'Function Error',
  502: 'Bad Gateway',
  503: 'Unavailable',
  504: 'Timeout',
};

export function Card({ title, actions, children, class: cls }: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string }): JSX.Element {
  return (
    <section class={`card ${cls ?? ''}`}>
      {(title || actions) && (
        <header class="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div class="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function Callout({ tone = 'error', title, children }: { tone?: 'error' | 'warn' | 'info'; title: string; children?: ComponentChildren }): JSX.Element {
  return (
    <div class={`callout callout-${tone}`} role={tone === 'error' ? 'alert' : 'status'}>
      <Icon name={tone === 'info' ? 'check' : 'alert'} />
      <div>
        <strong>{title}</strong>
        {children && <div class="callout-body">{children}</div>}
      </div>
    </div>
  );
}

/** An API error as the user should read it: a 403 names the scope the key lacks. */
export function ErrorCallout({ error }: { error: ApiError | Error }): JSX.Element {
  const e = error as ApiError;
  if (e.status === 403) {
    return (
      <div class="callout callout-warn" role="alert" data-status="403">
        <Icon name="lock" />
        <div>
          <strong>Forbidden (403)</strong>
          <div class="callout-body">{e.message}</div>
        </div>
      </div>
    );
  }
  const title = e.status ? `${e.code} (${e.status})` : e.code === 'Network' ? 'No answer' : 'Error';
  const where = [e.details?.file, e.details?.line !== undefined ? `line ${e.details.line}` : null].filter(Boolean).join(', ');
  return (
    <Callout title={title}>
      <span class="pre-wrap">{e.message}</span>
      {where && <div class="muted small">{where}</div>}
    </Callout>
  );
}

export function Button({
  icon,
  kind = 'secondary',
  children,
  busy,
  disabled,
  class: cls,
  ...rest
}: { icon?: IconName; kind?: 'primary' | 'secondary' | 'danger' | 'ghost'; busy?: boolean } & JSX.ButtonHTMLAttributes<HTMLButtonElement>): JSX.Element {
  return (
    <button type="button" {...rest} class={`btn btn-${kind} ${cls ?? ''}`} disabled={Boolean(busy || disabled)} aria-busy={busy ? 'true' : undefined}>
      {busy ? <span class="spinner" aria-hidden="true" /> : icon && <Icon name={icon} />}
      {children && <span>{children}</span>}
    </button>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }): JSX.Element {
  return (
    <div class="empty">
      <strong>{title}</strong>
      {children && <div class="muted">{children}</div>}
    </div>
  );
}

export function Loading({ what }: { what: string }): JSX.Element {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}
