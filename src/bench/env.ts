/** The bench's knobs: positive integers from the environment, with their defaults. */
export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined ? Number.NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export function envList(name: string, fallback: number[]): number[] {
  const v = process.env[name];
  if (v === undefined) return fallback;
  const list = v.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0 && n <= 8192);
  return list.length > 0 ? list : fallback;
}
