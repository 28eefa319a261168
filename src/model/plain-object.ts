/**
 * True for `{…}` objects: not arrays, dates, maps, class instances with their own tag, or null. Used for untyped
 * input (the spec from JavaScript or Pulumi config) and for parsed TOML alike.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  // Not a prototype check: smol-toml builds tables without a prototype, and structuredClone may return objects
  // of another realm (jest's sandbox).
  return typeof value === "object" && value !== null && Object.prototype.toString.call(value) === "[object Object]";
}
