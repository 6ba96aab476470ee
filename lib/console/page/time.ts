/**
 * Times as the console says them: "3 min ago", the exact ISO time, a wall
 * clock and lease countdowns. No DOM here: `ticker.ts` keeps them current on
 * the page.
 * @module
 */

/** Now, in Unix seconds. */
export function nowSeconds(): number {
  return Date.now() / 1000;
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago"; "in …" for the future. */
export function relative(at: number, now = nowSeconds()): string {
  const delta = Math.round(now - at);
  const ahead = delta < 0;
  const size = Math.abs(delta);
  if (size < 5) return 'just now';
  const amount =
    size < 60
      ? `${size} s`
      : size < 3600
        ? `${Math.floor(size / 60)} min`
        : size < 86_400
          ? `${Math.floor(size / 3600)} h`
          : `${Math.floor(size / 86_400)} d`;
  return ahead ? `in ${amount}` : `${amount} ago`;
}

/** The exact time, ISO 8601 in UTC. */
export function iso(at: number): string {
  return new Date(at * 1000).toISOString().replace('.000Z', 'Z');
}

const CLOCK = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

/** A wall-clock time such as 12:03:10, in the viewer's time zone. */
export function clock(at: number): string {
  return CLOCK.format(new Date(at * 1000));
}

// Swedish writes dates in ISO order (2026-12-06 15:24:01) whatever the viewer's locale; the time zone stays the viewer's.
const DATE_TIME = new Intl.DateTimeFormat('sv-SE', {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** A date and time to the second, in the viewer's time zone: what tells apart sessions created minutes apart. */
export function dateTime(at: number): string {
  return DATE_TIME.format(new Date(at * 1000));
}

/** "expires in 42 s" / "expires in 1 min 05 s" / "expired 3 min ago". */
export function countdown(expiresAt: number, now = nowSeconds()): string {
  const left = Math.ceil(expiresAt - now);
  if (left <= 0) return `expired ${relative(expiresAt, now)}`;
  if (left < 60) return `expires in ${left} s`;
  const minutes = Math.floor(left / 60);
  return `expires in ${minutes} min ${String(left % 60).padStart(2, '0')} s`;
}
