/**
 * Recognising a node's container runtime and its version, and comparing versions, so renderers can pick the
 * config schema a runtime understands.
 */

import { RegistryMirrorsError, type RuntimeInfo, type RuntimeKind } from "./types";

/** The input forms {@link parseRuntimeVersion} understands, as shown to a person when it fails. */
const ACCEPTED_FORMS: readonly string[] = [
  'a node\'s status.nodeInfo.containerRuntimeVersion, e.g. "containerd://1.7.13", "cri-o://1.29.1" or "docker://24.0.7"',
  'the first line of `containerd --version`, e.g. "containerd containerd.io 1.6.28 ae07eda36dd25f8a1b98dfbf587313b99c0190bb"',
  'the output of `crio --version`, e.g. "crio version 1.29.1" or "Version:        1.29.1"',
  'the output of `dockerd --version` or `docker --version`, e.g. "Docker version 24.0.7, build 311b9ff"',
  'the first line of `k3s --version` or `rke2 --version`, e.g. "k3s version v1.31.4+k3s1 (a5e6b1cc)"',
];

/** A parsed `MAJOR.MINOR.PATCH[-PRERELEASE]` version. */
interface Version {
  numbers: [number, number, number];
  /** Pre-release identifiers (`["rc", "1"]` for `-rc.1`); empty for a release. */
  pre: string[];
}

/**
 * `v?MAJOR.MINOR[.PATCH]`, then what follows. Pre-releases (`-alpha…`, `-beta…`, `-rc…`) are kept; distribution
 * suffixes (`~ds1`, `+dfsg1`, `-k3s1`, `-ce`, `-1+b1`, …) are dropped. Anything else after the numbers fails.
 */
const VERSION_RE = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-((?:alpha|beta|rc)(?:\.?\d+)*)(?=$|[-+~.])|(?=$|[-+~]))/i;

/** Parses a version string into its parts, or `undefined` when it is not a version. */
function parseVersion(text: string): Version | undefined {
  const m = VERSION_RE.exec(text.trim());
  if (!m) return undefined;
  const numbers: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3] ?? "0")];
  if (!numbers.every(Number.isSafeInteger)) return undefined;
  const pre = m[4] ? splitPreRelease(m[4].toLowerCase()) : [];
  return { numbers, pre };
}

/** Splits `rc.1` / `rc1` into semver identifiers `["rc", "1"]`. */
function splitPreRelease(pre: string): string[] {
  return pre.split(".").flatMap((part) => part.match(/[a-z]+|\d+/g) ?? []);
}

/** Formats a parsed version as `MAJOR.MINOR.PATCH[-PRE]` (`2.0.0-rc.1`). */
function formatVersion(v: Version): string {
  const base = v.numbers.join(".");
  return v.pre.length > 0 ? `${base}-${v.pre.join(".")}` : base;
}

/**
 * Normalises a runtime version to `MAJOR.MINOR.PATCH`, keeping a pre-release (`v2.0.0-rc.1` → `2.0.0-rc.1`) and
 * dropping a leading `v` and distribution suffixes (`1.6.20~ds1` → `1.6.20`, `1.7.11-k3s2` → `1.7.11`,
 * `20.10.21+dfsg1` → `20.10.21`). A missing patch becomes `0`.
 *
 * @param text - A version such as `1.7.13`, `v2.1.4` or `1.6.20~ds1`.
 * @returns The normalised version, or `undefined` when `text` is not a version.
 */
export function normalizeVersion(text: string): string | undefined {
  const v = parseVersion(text);
  return v && formatVersion(v);
}

/** Lines that are log output rather than version output (old `crio --version` logs before printing). */
function isLogLine(line: string): boolean {
  return /^(?:time=|(?:INFO|WARN|WARNING|DEBU|ERRO)\[)/.test(line);
}

/** One recognised form: a pattern whose first group is the version, and the runtime it names. */
interface Form {
  re: RegExp;
  kind: (m: RegExpExecArray) => RuntimeKind;
}

/** The recognised forms, tried in order against the first non-log line. */
const FORMS: readonly Form[] = [
  // Kubernetes containerRuntimeVersion
  { re: /^(containerd|cri-o|docker):\/\/(\S+)$/i, kind: (m) => m[1].toLowerCase() as RuntimeKind },
  // containerd --version: "containerd <package> <version> [<revision>]"
  { re: /^(containerd)\s+\S+\s+(v?\d\S*)(?:\s+\S+)?$/, kind: () => "containerd" },
  // crio --version: "crio version 1.29.1", or the multi-line form whose first line is "Version: 1.29.1"
  { re: /^(crio version|Version:)\s+(v?\d\S*)$/i, kind: () => "cri-o" },
  // dockerd --version / docker --version: "Docker version 24.0.7, build 311b9ff"
  { re: /^(Docker version)\s+(v?\d[^,\s]*)(?:,.*)?$/i, kind: () => "docker" },
  // k3s --version / rke2 --version: "k3s version v1.31.4+k3s1 (a5e6b1cc)"
  { re: /^(k3s|rke2) version\s+(v?\d\S*)(?:\s+\(.*\))?$/, kind: (m) => m[1] as RuntimeKind },
];

/** The error for text that names no runtime this library knows. */
function unrecognised(text: unknown): RegistryMirrorsError {
  const shown = typeof text === "string" ? JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text) : typeof text;
  return new RegistryMirrorsError(
    [
      {
        path: "runtime",
        message: `cannot recognise the container runtime version ${shown}; give one of: ${ACCEPTED_FORMS.join("; ")}`,
      },
    ],
    "unknown container runtime",
  );
}

/**
 * Recognises a node's container runtime and version from what Kubernetes or the runtime's own binary reports.
 *
 * Accepted forms:
 * - Kubernetes `containerRuntimeVersion`: `containerd://1.7.13`, `cri-o://1.29.1`, `docker://24.0.7`;
 * - the first line of `containerd --version`: `containerd containerd.io 1.6.28 ae07eda…`,
 *   `containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1`,
 *   `containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7…`;
 * - `crio --version`: `crio version 1.29.1`, or the multi-line form starting `Version:        1.29.1`;
 * - `dockerd --version` / `docker --version`: `Docker version 24.0.7, build 311b9ff`;
 * - `k3s --version` / `rke2 --version`: `k3s version v1.31.4+k3s1 (a5e6b1cc)` (the distribution's version, not its
 *   containerd's).
 *
 * The version is normalised with {@link normalizeVersion}.
 *
 * @param text - The reported string; surrounding whitespace and later lines are ignored.
 * @returns The runtime kind and its normalised version.
 * @throws {@link RegistryMirrorsError} with path `runtime`, listing the accepted forms, for anything else.
 */
export function parseRuntimeVersion(text: string): RuntimeInfo {
  if (typeof text !== "string") throw unrecognised(text);
  const first = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .find((line) => line !== "" && !isLogLine(line));
  for (const form of FORMS) {
    const m = first === undefined ? null : form.re.exec(first);
    if (!m) continue;
    const version = normalizeVersion(m[2]);
    if (version === undefined) break;
    return { kind: form.kind(m), version };
  }
  throw unrecognised(text);
}

/** Parses a version or throws a `RangeError` naming it. */
function parseOrThrow(text: string): Version {
  const v = typeof text === "string" ? parseVersion(text) : undefined;
  if (!v) throw new RangeError(`not a version: ${JSON.stringify(text)}; expected MAJOR.MINOR[.PATCH][-PRERELEASE]`);
  return v;
}

/** Compares pre-release identifier lists by semver precedence (a release sorts after its pre-releases). */
function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareIdentifier(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Semver identifier order: numeric identifiers numerically and before alphanumeric ones, which sort in ASCII. */
function compareIdentifier(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares two versions by semver precedence after {@link normalizeVersion} (so `v1.7.0`, `1.7` and `1.7.0~ds1`
 * are equal, and `2.0.0-rc.1` sorts before `2.0.0`).
 *
 * @returns A negative number if `a < b`, `0` if equal, a positive number if `a > b`.
 * @throws RangeError when either argument is not a version.
 */
export function compareVersions(a: string, b: string): number {
  const va = parseOrThrow(a);
  const vb = parseOrThrow(b);
  for (let i = 0; i < 3; i++) {
    const c = va.numbers[i] - vb.numbers[i];
    if (c !== 0) return Math.sign(c);
  }
  return Math.sign(comparePre(va.pre, vb.pre));
}

/**
 * Whether a runtime version is at least `min`. An unknown (`undefined`) or unparsable `version` counts as too old,
 * so callers fall back to the most compatible behaviour.
 *
 * @param version - The node's runtime version, e.g. from {@link parseRuntimeVersion}; may be `undefined`.
 * @param min - The lowest version that has the feature, e.g. `1.6.17`.
 * @throws RangeError when `min` is not a version (a programming error).
 */
export function versionAtLeast(version: string | undefined, min: string): boolean {
  const floor = parseOrThrow(min);
  if (version === undefined || parseVersion(version) === undefined) return false;
  return compareVersions(version, formatVersion(floor)) >= 0;
}
