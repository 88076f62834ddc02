/**
 * Bundles the page into one classic script and one stylesheet in dist/viewer: a page opened from
 * file:// may not load ES modules, so the bundle is an IIFE. ELK is not bundled (loaded on demand).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../../dist/viewer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    lib: {
      entry: fileURLToPath(new URL('main.ts', import.meta.url)),
      formats: ['iife'],
      name: 'shootdownViewer',
      fileName: () => 'viewer.js',
      cssFileName: 'viewer',
    },
  },
});
