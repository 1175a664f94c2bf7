// Numbers and times as the console shows them.

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  if (v < 10) return `${v.toFixed(1)} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}

export function count(v: number): string {
  if (v < 1000) return String(v);
  if (v < 1e6) return `${(v / 1000).toFixed(v < 10_000 ? 1 : 0)}k`;
  return `${(v / 1e6).toFixed(1)}M`;
}

export function rate(v: number): string {
  return v < 10 ? v.toFixed(1) : Math.round(v).toString();
}

export function percent(v: number | null): string {
  if (v === null) return '–';
  if (v === 0) return '0%';
  return v < 0.001 ? '<0.1%' : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
}

export function bytes(v: number | null): string {
  if (v === null) return '–';
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(0)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

export function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function runtimeLabel(runtime: string): string {
  if (runtime.startsWith('python')) return 'Python';
  if (runtime.startsWith('node')) return 'JavaScript';
  return runtime;
}

export function isPython(runtime: string): boolean {
  return runtime.startsWith('python');
}
