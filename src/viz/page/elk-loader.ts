/// <reference lib="dom" />
/**
 * ELK is 1.5 MB, so the page never loads it up front: the first layout comes with the page, and
 * ELK is fetched the first time a state is opened or closed. Over http the layout runs in a Web
 * Worker (elk-api.js + elk-worker.min.js); a page opened from file:// may not start workers from
 * files, so there it loads elk.bundled.js, which lays out on the main thread.
 */
import type { ElkLike } from '../chart-layout.js';

type ElkConstructor = new (options?: { workerUrl?: string }) => ElkLike;

let loading: Promise<ElkLike> | null = null;

function loadScript(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = src;
    el.async = true;
    el.onload = () => resolve();
    el.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(el);
  });
}

export function loadElk(): Promise<ElkLike> {
  loading ??= (async () => {
    const overHttp = location.protocol === 'http:' || location.protocol === 'https:';
    await loadScript(overHttp ? 'elk-api.js' : 'elk.bundled.js');
    const ELK = (window as unknown as { ELK?: ElkConstructor }).ELK;
    if (!ELK) throw new Error('ELK did not load');
    return overHttp ? new ELK({ workerUrl: 'elk-worker.min.js' }) : new ELK();
  })();
  return loading;
}
