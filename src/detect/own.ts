// Strings from a file (dtypes, tensor names, metadata keys, class names, storage globals) are never looked up in
// or written to plain objects: `constructor`, `toString` or `__proto__` would find Object.prototype's members.
// Tables are read with `own` (own properties only) and records keyed by file strings are made with `record`.

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** table[key] when key is the table's own property, else undefined. */
export function own<V>(table: Readonly<Record<string, V>>, key: string | number): V | undefined {
  const k = String(key);
  return hasOwn(table, k) ? table[k] : undefined;
}

/** Whether key is an own property of the object. */
export function hasOwnKey(obj: object, key: string): boolean {
  return hasOwn(obj, key);
}

/** An empty record without a prototype: any string (`__proto__` included) is an ordinary key. */
export function record<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}
