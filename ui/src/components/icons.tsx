// A few line icons (24x24, currentColor), always beside a text label or with aria-label.
import type { JSX } from 'preact';

const PATHS = {
  bolt: 'M13 2 4 14h7l-1 8 9-12h-7z',
  grid: 'M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z',
  plus: 'M12 5v14M5 12h14',
  fn: 'M9 20c2 0 2.5-2 3-6l1-6c.5-3 1.5-4 3.5-4M7 10h9',
  play: 'M7 4v16l13-8z',
  rocket: 'M5 15c-1.5 1.5-2 5-2 5s3.5-.5 5-2M9 15l-3-3 8-8c2-2 5-2 6-2 0 1 0 4-2 6zM9 9H5l-2 3 4 1M15 15v4l-3 2-1-4',
  trash: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13',
  stop: 'M6 6h12v12H6z',
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  menu: 'M4 6h16M4 12h16M4 18h16',
  lock: 'M6 11h12v9H6zM8 11V8a4 4 0 0 1 8 0v3',
  history: 'M4 12a8 8 0 1 0 2.3-5.7L4 8.5M4 4v4.5h4.5M12 8v4l3 2',
  pause: 'M8 5v14M16 5v14',
  refresh: 'M20 11a8 8 0 0 0-14.7-4M4 4v3h3M4 13a8 8 0 0 0 14.7 4M20 20v-3h-3',
  check: 'M5 12l5 5 9-10',
  alert: 'M12 3 2 21h20zM12 10v5M12 18v.5',
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 16, label }: { name: IconName; size?: number; label?: string }): JSX.Element {
  return (
    <svg
      class="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      stroke-width="2"
      stroke-linecap="round"
      stroke-linejoin="round"
      role={label ? 'img' : undefined}
      aria-label={label}
      aria-hidden={label ? undefined : 'true'}
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
