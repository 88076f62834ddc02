/** One built-in scenario: a scenario file (a plain JSON value) with the id and name it runs by. Its own module so
 *  the lists in builtin-kvm.ts and builtin-vsock.ts can name it without importing builtin.ts, which imports them. */
export interface BuiltinScenario {
  id: string;
  name: string;
  summary: string;
  raw: Record<string, unknown>;
}
