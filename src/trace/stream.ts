/**
 * The live trace of a run: every record goes synchronously to each subscriber, in order. It is a
 * plain listener list rather than an RxJS Subject because it carries several records per step
 * and the Subject's per-record machinery was a tenth of a run's time; `asObservable()` gives the
 * RxJS view for consumers that want operators.
 */
// RxJS's own module, not its index: the index loads all 200-odd operators at start (a tenth of a cold `run`).
import { Observable } from 'rxjs/internal/Observable';
import type { TraceRecord } from './records.js';

export type TraceListener = (record: TraceRecord) => void;

export class TraceStream {
  private listeners: TraceListener[] = [];
  private closed = false;

  subscribe(listener: TraceListener): { unsubscribe(): void } {
    this.listeners = [...this.listeners, listener];
    return { unsubscribe: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  }

  next(record: TraceRecord): void {
    if (this.closed) return;
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) (ls[i] as TraceListener)(record);
  }

  complete(): void {
    this.closed = true;
    this.listeners = [];
  }

  asObservable(): Observable<TraceRecord> {
    return new Observable<TraceRecord>((subscriber) => {
      const sub = this.subscribe((r) => subscriber.next(r));
      return () => sub.unsubscribe();
    });
  }
}
