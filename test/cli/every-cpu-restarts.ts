/** A scenario file in `dir`: every CPU does an emergency restart at once with kdump loaded (a long timeline: each broadcast's drops make a line per CPU). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function everyCpuRestarts(dir: string, cpus: number): string {
  const file = path.join(dir, `er${cpus}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      name: `er${cpus}`,
      machine: { cpus },
      initial: { all: { vmx: 'root', loadedVmcs: 1 } },
      options: { kdump: true, panicTimeout: -1 },
      script: Array.from({ length: cpus }, (_, cpu) => ({ cpu, do: 'emergency-restart', at: 0 })),
    }),
  );
  return file;
}
