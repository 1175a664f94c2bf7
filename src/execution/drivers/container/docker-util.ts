// Small helpers for talking to the Docker engine through dockerode, shared by the container
// driver and its image catalogue.

/** Labels on everything faasd creates: what a restarted daemon's orphan sweep looks for. */
export const LABELS = Object.freeze({
  managed: 'faasd.managed',
  fn: 'faasd.function',
  instance: 'faasd.instance',
  daemon: 'faasd.daemon',
  version: 'faasd.version',
});

export function statusCode(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The engine's own sentence (dockerode puts it in `json.message`), else the error message. */
export function dockerMessage(e: unknown): string {
  const json = (e as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message;
  if ((e as Error | null)?.name === 'AbortError' || (e as Error | null)?.name === 'TimeoutError') return 'no answer in time';
  return e instanceof Error ? e.message : String(e);
}
