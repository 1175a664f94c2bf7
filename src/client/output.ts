// How commands print: data to stdout (aligned tables, or JSON with --json), messages and
// progress to stderr; colour and progress only on a terminal (NO_COLOR and TERM=dumb honoured).

type Stream = NodeJS.WriteStream;

function colourOn(stream: Stream, env: NodeJS.ProcessEnv): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in env) && env.TERM !== 'dumb';
}

const SGR = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, cyan: 36 } as const;
export type Style = keyof typeof SGR;

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** A cell: its text and, on a terminal, a style. */
export type Cell = string | { text: string; style?: Style };

export class Output {
  readonly json: boolean;
  private readonly colour: boolean;
  private readonly errColour: boolean;

  constructor(
    opts: { json?: boolean } = {},
    readonly stdout: Stream = process.stdout,
    readonly stderr: Stream = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.json = Boolean(opts.json);
    this.colour = colourOn(stdout, env);
    this.errColour = colourOn(stderr, env);
  }

  /** Progress shows only when stderr is a terminal and the output is for people. */
  get interactive(): boolean {
    return Boolean(this.stderr.isTTY) && !this.json;
  }

  style(text: string, style: Style | undefined, forStderr = false): string {
    if (!style || !(forStderr ? this.errColour : this.colour)) return text;
    return `\x1b[${SGR[style]}m${text}\x1b[0m`;
  }

  /** A line of data. */
  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  data(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A message for people (stderr), never mixed into the data. */
  note(text: string, style?: Style): void {
    this.stderr.write(`${this.style(text, style, true)}\n`);
  }

  table(columns: readonly Column[], rows: readonly (readonly Cell[])[]): void {
    const text = (c: Cell) => (typeof c === 'string' ? c : c.text);
    const widths = columns.map((col, i) => Math.max(col.header.length, ...rows.map((r) => text(r[i] ?? '').length)));
    const render = (cells: readonly Cell[], header: boolean) =>
      columns
        .map((col, i) => {
          const c = cells[i] ?? '';
          const t = text(c);
          const last = i === columns.length - 1;
          const padded = col.align === 'right' ? t.padStart(widths[i]!) : last ? t : t.padEnd(widths[i]!);
          return this.style(padded, header ? 'bold' : typeof c === 'string' ? undefined : c.style);
        })
        .join('  ')
        .trimEnd();
    this.line(
      render(
        columns.map((c) => c.header),
        true,
      ),
    );
    for (const r of rows) this.line(render(r, false));
  }

  /** Key: value lines, keys aligned. */
  fields(pairs: readonly (readonly [string, string])[]): void {
    const w = Math.max(0, ...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) this.line(`${this.style(`${k}:`.padEnd(w + 1), 'bold')} ${v}`);
  }

  progress(label: string): Progress {
    return new Progress(this, label);
  }
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A spinner line on stderr, redrawn in place; nothing at all off a terminal. */
export class Progress {
  private frame = 0;
  private timer: NodeJS.Timeout | null = null;
  private t0 = Date.now();

  constructor(
    private readonly out: Output,
    private label: string,
  ) {
    if (label) this.update(label);
  }

  /** Shows `label` (starting the spinner again after stop()). */
  update(label: string): void {
    this.label = label;
    if (!this.out.interactive) return;
    if (!this.timer) {
      this.t0 = Date.now();
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
    }
    this.draw();
  }

  /** Clears the spinner line. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    this.out.stderr.write('\r\x1b[2K');
  }

  private draw(): void {
    const secs = ((Date.now() - this.t0) / 1000).toFixed(0);
    this.frame = (this.frame + 1) % FRAMES.length;
    this.out.stderr.write(`\r\x1b[2K${this.out.style(FRAMES[this.frame]!, 'cyan', true)} ${this.label} ${this.out.style(`${secs}s`, 'dim', true)}`);
  }
}

/** "12s ago", "5m ago", "3h ago", "2d ago"; "in 5m" for a time ahead; "-" for none. */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  const a = Math.abs(s);
  const n = a < 60 ? `${a}s` : a < 3600 ? `${Math.floor(a / 60)}m` : a < 86_400 ? `${Math.floor(a / 3600)}h` : `${Math.floor(a / 86_400)}d`;
  if (a < 2) return 'just now';
  return s >= 0 ? `${n} ago` : `in ${n}`;
}

/** Milliseconds for a table: "3.2ms", "140ms", "2.1s"; "-" for none. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}

/** Bytes for a table: "512B", "4.0KiB", "12MiB". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n}B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}
