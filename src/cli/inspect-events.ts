/**
 * `shootdown run --inspect`, the events (inspect.ts): XState inspection events converted to the form Stately's
 * inspector reads, and serialized with cycles cut and depth bounded as @statelyai/inspect sends them.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';

/** How deep an event's snapshot is copied (deeper objects become "[Object]", as @statelyai/inspect does). */
const DEPTH_LIMIT = 10;
/** The `_version` Stately's inspector UI expects on events (that of @statelyai/inspect, whose event form this is). */
const INSPECT_VERSION = '0.7.2';

/** `value` as JSON with cycles cut and depth bounded, the way @statelyai/inspect's WebSocket adapter sends it. */
export function boundedJson(value: unknown): string {
  const seen = new Set<object>();
  const copy = (v: unknown, depth: number): unknown => {
    if (typeof v === 'function') return { type: (v as { name?: string }).name ?? '' };
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v;
    const withJson = v as { toJSON?: () => unknown };
    if (typeof withJson.toJSON === 'function') return copy(withJson.toJSON(), depth);
    if (seen.has(v)) return '[Circular]';
    if (depth >= DEPTH_LIMIT) return Array.isArray(v) ? '[Array]' : '[Object]';
    seen.add(v);
    const out = Array.isArray(v) ? v.map((x) => copy(x, depth + 1)) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x, depth + 1)]));
    seen.delete(v);
    return out;
  };
  return JSON.stringify(copy(value, 0)) ?? 'null';
}

/**
 * XState inspection events as Stately's inspector reads them (the form of @statelyai/inspect
 * 0.7.2's `convertXStateEvent`), each one serialized when it happens. @statelyai/inspect itself
 * converts on a later timer, so an actor's registration carried whatever snapshot the actor had
 * by then (after the run's first slice, not its initial state) and the events waited in timers.
 * XState sends `@xstate.actor` before the actor has its first snapshot, so a registration is held
 * until the next inspection event (or `flush`), when the snapshot exists.
 */
export class Converter {
  private pending: { actorRef: AnyActorRef; rootId: string }[] = [];
  private ids = new Map<string, string>();

  constructor(private readonly out: (message: string) => void) {}

  /**
   * The actor's id in this stream: XState numbers actors across every system of the process, so a
   * re-run's actors have other session ids; numbered by first sight, a run and its re-run agree.
   */
  private id(sessionId: string): string;
  private id(sessionId: string | undefined): string | undefined;
  private id(sessionId: string | undefined): string | undefined {
    if (sessionId === undefined) return undefined;
    let id = this.ids.get(sessionId);
    if (id === undefined) this.ids.set(sessionId, (id = `x:${this.ids.size}`));
    return id;
  }

  next(e: InspectionEvent): void {
    this.flush();
    const at = Date.now().toString();
    const common = { sessionId: this.id(e.actorRef.sessionId), _version: INSPECT_VERSION, createdAt: at, id: null, rootId: this.id(e.rootId) };
    switch (e.type) {
      case '@xstate.actor':
        this.pending.push({ actorRef: e.actorRef as AnyActorRef, rootId: e.rootId });
        return;
      case '@xstate.event':
        return this.out(boundedJson({ type: e.type, event: e.event, sourceId: this.id(e.sourceRef?.sessionId), ...common }));
      case '@xstate.snapshot':
        return this.out(boundedJson({ type: e.type, event: e.event, snapshot: e.snapshot, ...common }));
      default:
        return; // actions and microsteps: the inspector UI does not read them
    }
  }

  /** Sends the registrations held, in order, as far as their actors have a snapshot. */
  flush(): void {
    while (this.pending.length > 0) {
      const { actorRef, rootId } = this.pending[0] as { actorRef: AnyActorRef; rootId: string };
      let snapshot: unknown;
      try {
        snapshot = actorRef.getSnapshot();
      } catch {
        return; // XState refuses while the actor initializes itself (a child spawned by its initial state)
      }
      if (snapshot === undefined) return;
      this.pending.shift();
      const config = (actorRef as unknown as { logic?: { config?: { id?: string } } }).logic?.config;
      const name = actorRef.id === actorRef.sessionId && config?.id !== undefined ? config.id : actorRef.id;
      const definition = typeof config === 'object' ? boundedJson(config) : boundedJson({ id: name });
      this.out(
        boundedJson({
          name,
          type: '@xstate.actor',
          definition,
          _version: INSPECT_VERSION,
          createdAt: Date.now().toString(),
          id: null,
          rootId: this.id(rootId),
          parentId: this.id(actorRef._parent?.sessionId),
          sessionId: this.id(actorRef.sessionId),
          snapshot,
        }),
      );
    }
  }
}

/** A connected page or client and how far into the run's events it has been sent. */
