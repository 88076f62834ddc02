/**
 * `shootdown run --inspect`: the run's CPU actors (real XState actors, so XState's inspection API
 * sees them) report to Stately's inspector. @statelyai/inspect's bridge server serves a page that
 * embeds Stately's hosted inspector UI and relays the events a WebSocket inspector sends it. The
 * UI is hosted, so this needs internet on the user's side; shootdown's own viewer does not.
 */
import type { InspectionEvent } from 'xstate';

export interface InspectSession {
  inspect: (event: InspectionEvent) => void;
  url: string;
  /** Let queued events go out, then close the socket and the server. */
  close(lingerMs: number): Promise<void>;
}

export async function startInspection(port: number): Promise<InspectSession> {
  const { createInspectorServer } = await import('@statelyai/inspect/server');
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const server = createInspectorServer({ port, autoOpen: false });
  const inspector = createWebSocketInspector({ url: `ws://localhost:${port}` });
  const observer = inspector.inspect as unknown as { next?: (e: InspectionEvent) => void } | ((e: InspectionEvent) => void);
  const inspect = (e: InspectionEvent) => (typeof observer === 'function' ? observer(e) : observer.next?.(e));
  return {
    inspect,
    url: `http://localhost:${port}`,
    close: async (lingerMs) => {
      await new Promise((resolve) => setTimeout(resolve, lingerMs));
      inspector.stop();
      server.stop();
    },
  };
}
