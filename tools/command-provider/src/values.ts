// Property values as they travel over the provider gRPC protocol (google.protobuf.Struct
// converted with toJavaScript()), and the parts of Pulumi's Go property model that the
// real provider relies on: secrets, unknowns, PropertyMap.Diff and
// plugin.NewDetailedDiffFromObjectDiff.

export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SIG_SECRET = "1b47061264138c4ac30d75fd1eb44270";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type Value = null | boolean | number | string | Value[] | { [k: string]: Value };
export type PropertyMap = { [k: string]: Value };

export function isObject(v: unknown): v is { [k: string]: Value } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
export function isSecret(v: unknown): v is { [k: string]: Value } {
  return isObject(v) && v[SIG_KEY] === SIG_SECRET;
}
export function isUnknown(v: unknown): boolean {
  return v === UNKNOWN;
}
/** A plain object (not a secret, asset, archive, resource reference or output value). */
export function isPlainObject(v: unknown): v is { [k: string]: Value } {
  return isObject(v) && !(SIG_KEY in v);
}
export function secret(v: Value): Value {
  return isSecret(v) ? v : { [SIG_KEY]: SIG_SECRET, value: v };
}
/** Remove one level of secret wrapping. */
export function unwrap(v: Value | undefined): Value | undefined {
  return isSecret(v) ? (v.value as Value) : v;
}
/** Remove every secret wrapper, at any depth. */
export function reveal(v: Value | undefined): Value | undefined {
  if (isSecret(v)) return reveal(v.value as Value);
  if (Array.isArray(v)) return v.map((e) => reveal(e) as Value);
  if (isPlainObject(v)) {
    const o: PropertyMap = {};
    for (const [k, e] of Object.entries(v)) o[k] = reveal(e) as Value;
    return o;
  }
  return v;
}
export function containsUnknowns(v: Value | undefined): boolean {
  if (isUnknown(v)) return true;
  if (isSecret(v)) return containsUnknowns(v.value as Value);
  if (Array.isArray(v)) return v.some(containsUnknowns);
  if (isPlainObject(v)) return Object.values(v).some(containsUnknowns);
  return false;
}
/** Apply f to the value inside a (possibly) secret wrapper, keeping the wrapper. */
export function mapInside(v: Value, f: (inner: Value) => Value): Value {
  return isSecret(v) ? { ...v, value: f(v.value as Value) } : f(v);
}

/** resource.PropertyValue.HasValue: null/missing are "no value". */
function hasValue(v: Value | undefined): boolean {
  return v !== null && v !== undefined;
}

/** resource.PropertyValue.DeepEquals */
export function deepEquals(a: Value | undefined, b: Value | undefined): boolean {
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((e, i) => deepEquals(e, b[i]));
  }
  if (isSecret(a)) return isSecret(b) && deepEquals(a.value as Value, b.value as Value);
  if (isObject(a)) {
    if (!isObject(b) || isSecret(b)) return false;
    for (const k of Object.keys(a)) {
      if (k in b) {
        if (!deepEquals(a[k], b[k])) return false;
      } else if (hasValue(a[k])) return false;
    }
    for (const k of Object.keys(b)) if (!(k in a) && hasValue(b[k])) return false;
    return true;
  }
  if (a === undefined) return b === undefined || b === null;
  if (a === null) return b === null || b === undefined;
  return a === b;
}

interface ValueDiff {
  old: Value | undefined;
  new: Value | undefined;
  object?: ObjectDiff;
  array?: ArrayDiff;
}
interface ObjectDiff {
  adds: string[];
  deletes: string[];
  updates: Map<string, ValueDiff>;
}
interface ArrayDiff {
  adds: number[];
  deletes: number[];
  updates: Map<number, ValueDiff>;
}

/** resource.PropertyMap.Diff (nil when there are no differences). */
export function diffMaps(olds: PropertyMap, news: PropertyMap): ObjectDiff | undefined {
  const d: ObjectDiff = { adds: [], deletes: [], updates: new Map() };
  for (const [k, o] of Object.entries(olds)) {
    if (k in news) {
      const n = news[k];
      const vd = diffValues(o, n);
      if (vd) {
        if (!hasValue(o)) d.adds.push(k);
        else if (!hasValue(n)) d.deletes.push(k);
        else d.updates.set(k, vd);
      }
    } else if (hasValue(o)) d.deletes.push(k);
  }
  for (const [k, n] of Object.entries(news)) if (!(k in olds) && hasValue(n)) d.adds.push(k);
  return d.adds.length || d.deletes.length || d.updates.size ? d : undefined;
}

/** resource.PropertyValue.Diff */
function diffValues(o: Value | undefined, n: Value | undefined): ValueDiff | undefined {
  if (Array.isArray(o) && Array.isArray(n)) {
    const a: ArrayDiff = { adds: [], deletes: [], updates: new Map() };
    for (let i = o.length; i < n.length; i++) a.adds.push(i);
    for (let i = n.length; i < o.length; i++) a.deletes.push(i);
    for (let i = 0; i < o.length && i < n.length; i++) {
      const vd = diffValues(o[i], n[i]);
      if (vd) a.updates.set(i, vd);
    }
    return a.adds.length || a.deletes.length || a.updates.size ? { old: o, new: n, array: a } : undefined;
  }
  if (isPlainObject(o) && isPlainObject(n)) {
    const od = diffMaps(o, n);
    return od ? { old: o, new: n, object: od } : undefined;
  }
  return deepEquals(o, n) ? undefined : { old: o, new: n };
}

export type DiffKind = "ADD" | "ADD_REPLACE" | "DELETE" | "DELETE_REPLACE" | "UPDATE" | "UPDATE_REPLACE";

/** resource.PropertyPath.String() for one more element. */
function pathJoin(prefix: string, k: string | number): string {
  if (typeof k === "number") return `${prefix}[${k}]`;
  if (/^[a-zA-Z_$][a-zA-Z0-9_$]*$/.test(k)) return prefix === "" ? k : `${prefix}.${k}`;
  return `${prefix}[${JSON.stringify(k)}]`;
}

/** plugin.NewDetailedDiffFromObjectDiff */
export function detailedDiff(d: ObjectDiff | undefined): Map<string, DiffKind> {
  const acc = new Map<string, DiffKind>();
  const obj = (prefix: string, od: ObjectDiff) => {
    for (const k of od.adds) acc.set(pathJoin(prefix, k), "ADD");
    for (const k of od.deletes) acc.set(pathJoin(prefix, k), "DELETE");
    for (const [k, vd] of od.updates) val(pathJoin(prefix, k), vd);
  };
  const arr = (prefix: string, ad: ArrayDiff) => {
    for (const i of ad.adds) acc.set(pathJoin(prefix, i), "ADD");
    for (const i of ad.deletes) acc.set(pathJoin(prefix, i), "DELETE");
    for (const [i, vd] of ad.updates) val(pathJoin(prefix, i), vd);
  };
  const val = (prefix: string, vd: ValueDiff) => {
    if (vd.object) obj(prefix, vd.object);
    else if (vd.array) arr(prefix, vd.array);
    else if (!hasValue(vd.old) && hasValue(vd.new)) acc.set(prefix, "ADD");
    else if (hasValue(vd.old) && !hasValue(vd.new)) acc.set(prefix, "DELETE");
    else acc.set(prefix, "UPDATE");
  };
  if (d) obj("", d);
  return acc;
}

export function asReplace(k: DiffKind): DiffKind {
  return k.endsWith("_REPLACE") ? k : ((k + "_REPLACE") as DiffKind);
}

/** Drop undefined values (google.protobuf.Struct cannot carry them). */
export function clean(v: unknown): Value {
  return JSON.parse(JSON.stringify(v ?? null)) as Value;
}
