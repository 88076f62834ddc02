/**
 * Values kept once by their content: the search's tables name a footprint, an only-list, a
 * runnability answer or an observer state by a small number, the index of the first value met with
 * that content text. One mechanism for every such table (cache-tables.ts, refresh-table.ts,
 * observer-sets.ts).
 */
export class Interned<T> {
  /** Every value kept, by id; never changed. */
  readonly values: T[] = [];
  private readonly ids = new Map<string, number>();

  /** The id of the value whose content is `text`: the one kept, or `make()` kept now. */
  id(text: string, make: () => T): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.add(make());
      this.ids.set(text, id);
    }
    return id;
  }

  /** Keep `value` under a new id, equal to no other (a value whose content cannot be written). */
  add(value: T): number {
    this.values.push(value);
    return this.values.length - 1;
  }
}
