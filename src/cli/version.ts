/** The version of shootdown running: the one in its package.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version in package.json, found from this file upwards (src/cli in the clone, dist/src/cli when built). */
export function version(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'shootdown' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not here: one level up.
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}
