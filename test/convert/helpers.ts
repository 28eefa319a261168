/** Test helpers for the converters: reading a directory as a map, and what a spec means (for round trips). */
import { readFileSync } from "fs";
import { parse } from "yaml";
import type { Mirror } from "../../src";
import { canonicalUpstream } from "../../src/model/validate";

export { readTree } from "../../src/cli/spec-file";

/** The mirrors of a spec file (`mirrors: [...]`). */
export function readSpec(file: string): Mirror[] {
  return (parse(readFileSync(file, "utf8")) as { mirrors: Mirror[] }).mirrors;
}

/** `scheme://host[:port][path]` with the API-root spellings `""`, `/` and `/v2` made one. */
function normalUrl(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/\/+$/, "");
  return `${u.protocol}//${u.host}${path === "/v2" ? "" : path}`;
}

/**
 * What a spec means to a node, independent of spelling: canonical upstream, endpoints in order with normalised
 * URL and effective capabilities (digestOnly is pull-only everywhere), fallback, trimmed PEMs.
 */
export function meaning(mirrors: readonly Mirror[]): unknown {
  return mirrors.map((m) => ({
    upstream: m.upstream === "*" ? "*" : canonicalUpstream(m.upstream),
    fallback: m.fallback !== false,
    endpoints: m.endpoints.map((e) => ({
      url: normalUrl(e.url),
      capabilities: m.digestOnly
        ? ["pull"]
        : (["pull", "resolve", "push"] as const).filter((c) => (e.capabilities ?? ["pull", "resolve"]).includes(c)),
      caCert: e.caCert?.trim(),
      clientCert: e.clientCert?.trim(),
      clientKey: e.clientKey?.trim(),
      skipVerify: e.skipVerify === true,
      auth: e.auth,
      headers: e.headers,
    })),
  }));
}
