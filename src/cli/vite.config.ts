/**
 * Bundles the command line (`npm run build`, after tsc) into dist/bin/shootdown.js, the file `bin` and
 * `npm start` run. A cold `shootdown run` otherwise waits for node to resolve, read and link some 340 ES
 * modules and 50 CommonJS files of RxJS and XState one by one; one file with the same code loads in a
 * fraction of that. It bundles the tsc output (dist/src), so the library and the tests run the very code
 * the bundle holds. The viewer, the exporters and the explorer stay in chunks of their own beside it,
 * loaded by main.ts's dynamic imports only for their commands; so does the explorer's worker, which
 * parallel.ts finds next to its chunk. elkjs stays outside: the viewer serves its files as they are.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const dist = (p: string): string => fileURLToPath(new URL(`../../dist/${p}`, import.meta.url));

export default defineConfig({
  logLevel: 'warn',
  // No public/ folder to copy and no .env files to read: the bundle is code only.
  publicDir: false,
  envDir: false,
  build: {
    ssr: true,
    outDir: dist('bin'),
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: false,
    rollupOptions: {
      input: { shootdown: dist('src/cli/main.js'), worker: dist('src/explore/worker.js') },
      external: [/^node:/, 'elkjs', /^elkjs\//],
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
    },
  },
  // Bundle the runtime dependencies (XState, RxJS) too: for node, vite leaves them outside by default.
  ssr: { noExternal: true, target: 'node' },
});
