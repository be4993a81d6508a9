// Numbers and keys in the words a user reads.

export function shortKey(base64: string): string {
  return base64.length > 10 ? `${base64.slice(0, 8)}…` : base64;
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** "just now", "42 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function age(secs: number | null | undefined): string {
  if (secs === null || secs === undefined) return "never";
  if (secs < 2) return "just now";
  if (secs < 120) return `${secs} s ago`;
  if (secs < 7200) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 172800) return `${Math.floor(secs / 3600)} h ago`;
  return `${Math.floor(secs / 86400)} d ago`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}
