/**
 * Properties over generated specs (fast-check):
 * - export to Gardener, Talos and k3s either succeeds, and importing the result gives a spec that means the same
 *   (nothing the format can express is lost), or fails with problems that each name a field of our spec;
 * - our containerd and CRI-O renderers' files import back (certs.d, registries.conf.d) to a spec that means the same;
 * - no importer throws anything but a RegistryMirrorsError on arbitrary input.
 */
import fc from "fast-check";
import { readFileSync } from "fs";
import { join } from "path";
import { stringify } from "yaml";
import { RegistryMirrorsError, renderNodeConfig, type Mirror } from "../../src";
import { EXPORT_FORMATS, IMPORT_FORMATS, importCertsD, importContainersRegistries } from "../../src/convert";
import { findProblems } from "../../src/model/validate";
import { meaning } from "./helpers";

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) };
const FIXTURES = join(__dirname, "../model/fixtures");
const CA = readFileSync(join(FIXTURES, "ca.pem"), "utf8");
const CLIENT_CERT = readFileSync(join(FIXTURES, "client.pem"), "utf8");
const CLIENT_KEY = readFileSync(join(FIXTURES, "client.key"), "utf8");

const host = fc.constantFrom("mirror.internal", "10.0.0.5", "harbor.example.com", "m-2.corp.example");
const tls = fc.record({ caCert: fc.constant(CA), client: fc.boolean(), skipVerify: fc.constant(true) }, { requiredKeys: [] });
const endpoint = fc
  .record(
    {
      scheme: fc.constantFrom("http", "https", "https"),
      host,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      path: fc.constantFrom("", "", "/v2", "/v2/dockerhub", "/v2/library/x", "/cache"),
      capabilities: fc.option(fc.constantFrom<("pull" | "resolve" | "push")[]>(["pull"], ["pull", "resolve"], ["pull", "resolve", "push"]), {
        nil: undefined,
      }),
      tls: fc.option(tls, { nil: undefined }),
      auth: fc.option(fc.record({ username: fc.constantFrom("robot$puller", "u"), password: fc.stringMatching(/^[A-Za-z0-9]{8,16}$/) }), {
        nil: undefined,
      }),
      headers: fc.option(fc.record({ "X-Team": fc.constantFrom("a", "b") }), { nil: undefined }),
    },
    { requiredKeys: ["scheme", "host", "path"] },
  )
  .map((e) => {
    const url = `${e.scheme}://${e.host}${e.port ? `:${e.port}` : ""}${e.path}`;
    const secure = e.scheme === "https" && e.tls ? e.tls : {};
    return {
      url,
      ...(e.capabilities ? { capabilities: e.capabilities } : {}),
      ...(secure.caCert ? { caCert: secure.caCert } : {}),
      ...(secure.client ? { clientCert: CLIENT_CERT, clientKey: CLIENT_KEY } : {}),
      ...(secure.skipVerify ? { skipVerify: true } : {}),
      ...(e.auth ? { auth: e.auth } : {}),
      ...(e.headers ? { headers: e.headers } : {}),
    };
  });
const mirror = fc.record(
  {
    upstream: fc.constantFrom("docker.io", "gcr.io", "quay.io", "registry.local:5000", "*"),
    endpoints: fc.uniqueArray(endpoint, { minLength: 1, maxLength: 3, selector: (e) => e.url.replace(/\/v2$/, "") }),
    fallback: fc.option(fc.boolean(), { nil: undefined }),
    digestOnly: fc.option(fc.constant(true), { nil: undefined }),
  },
  { requiredKeys: ["upstream", "endpoints"] },
);
/** Valid specs only: the converters are for specs that pass validateMirrors. */
const spec: fc.Arbitrary<Mirror[]> = fc
  .uniqueArray(mirror, { minLength: 1, maxLength: 3, selector: (m) => m.upstream })
  .filter((mirrors) => findProblems(mirrors).length === 0) as fc.Arbitrary<Mirror[]>;

/** A plainer spec: no headers, push or digestOnly, so the k3s and Talos exports succeed often enough to matter. */
const plainSpec: fc.Arbitrary<Mirror[]> = spec.map((mirrors) =>
  mirrors.map((m) => ({
    upstream: m.upstream,
    ...(m.fallback !== undefined ? { fallback: m.fallback } : {}),
    endpoints: m.endpoints.map((e) => {
      const { headers: _headers, capabilities: _capabilities, ...rest } = e;
      return rest;
    }),
  })),
);

/** Exports, or returns the problems when the format cannot express the spec. */
function tryExport(format: string, mirrors: Mirror[], options = {}) {
  try {
    return { result: EXPORT_FORMATS[format].run(mirrors, options) };
  } catch (e) {
    if (e instanceof RegistryMirrorsError) return { problems: e.problems };
    throw e;
  }
}

describe.each([
  ["gardener", {}],
  ["talos", {}],
  ["k3s", {}],
  ["k3s", { defaultEndpointDisabled: true }],
])("export to %s %j", (format, options) => {
  for (const [name, arbitrary] of [
    ["any spec", spec],
    ["a plain spec", plainSpec],
  ] as const) {
    it(`${name}: round-trips what it can express and names our field for what it cannot`, () => {
      let exported = 0;
      fc.assert(
        fc.property(arbitrary, (mirrors) => {
          const { result, problems } = tryExport(format, mirrors, options);
          if (problems) return problems.length > 0 && problems.every((p) => /^mirrors\[\d+\]/.test(p.path));
          exported++;
          const files = Object.fromEntries(result.files.map((f) => [f.path, f.content]));
          const back = IMPORT_FORMATS[format].run({ kind: "text", text: result.text }, { ...options, readFile: (p) => files[p] });
          expect(back.notes).toEqual([]);
          expect(meaning(back.mirrors)).toEqual(meaning(mirrors));
          return true;
        }),
        RUNS,
      );
      // The round trip must have been exercised, not only the refusals: some plain specs export (about 5-10 % with
      // defaultEndpointDisabled, which needs fallback: false on every mirror; a fixed bound would flake on random input).
      if (name === "a plain spec" && format !== "gardener") expect(exported).toBeGreaterThan(0);
    });
  }
});

/** One file per upstream has no order between upstreams: compare sorted. */
function byUpstream(mirrors: readonly Mirror[]): Mirror[] {
  const key = (m: Mirror) => (m.upstream === "index.docker.io" ? "docker.io" : m.upstream);
  return [...mirrors].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Renders, or `undefined` for a spec the runtime cannot express. */
function tryRender<T>(render: () => T): T | undefined {
  try {
    return render();
  } catch (e) {
    if (e instanceof RegistryMirrorsError) return undefined;
    throw e;
  }
}

describe("our renderers' files import back", () => {
  it("containerd hosts directory → certs-d", () => {
    fc.assert(
      fc.property(spec, (mirrors) => {
        const plan = renderNodeConfig({
          mirrors,
          runtime: { kind: "containerd", version: "2.1.4" },
          liveConfig: "",
          paths: { hostsDir: "/etc/containerd/certs.d" },
        });
        const prefix = "/etc/containerd/certs.d/";
        const files = Object.fromEntries(plan.files.filter((f) => f.path.startsWith(prefix)).map((f) => [f.path.slice(prefix.length), f.content]));
        const back = importCertsD(files);
        expect(back.notes).toEqual([]);
        expect(meaning(byUpstream(back.mirrors))).toEqual(meaning(byUpstream(mirrors)));
      }),
      RUNS,
    );
  });

  it("CRI-O drop-ins → registries-conf (https mirrors without TLS settings or credentials, which live in other files)", () => {
    const crioSpec = spec
      .map((mirrors) =>
        mirrors
          .filter((m) => m.upstream !== "*")
          .map((m) => ({
            ...m,
            endpoints: m.endpoints
              .filter((e) => e.url.startsWith("https:") && !/\/cache$/.test(e.url))
              .map((e) => ({ url: e.url, ...(e.capabilities?.includes("resolve") === false ? { capabilities: e.capabilities } : {}) })),
          }))
          .filter((m) => m.endpoints.length > 0),
      )
      .filter((mirrors) => mirrors.length > 0 && findProblems(mirrors).length === 0);
    fc.assert(
      fc.property(crioSpec, (mirrors) => {
        const plan = tryRender(() => renderNodeConfig({ mirrors, runtime: { kind: "cri-o" } }));
        if (!plan) return;
        const dropIns = Object.fromEntries(plan.files.filter((f) => f.path.endsWith(".conf")).map((f) => [f.path.split("/").pop()!, f.content]));
        const back = importContainersRegistries(dropIns);
        expect(back.notes).toEqual([]);
        expect(meaning(byUpstream(back.mirrors))).toEqual(meaning(byUpstream(mirrors)));
      }),
      RUNS,
    );
  });
});

describe("importers on arbitrary input", () => {
  it.each(Object.keys(IMPORT_FORMATS).filter((f) => IMPORT_FORMATS[f].reads !== "dir"))("%s throws nothing but a RegistryMirrorsError", (format) => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => stringify(v)),
          fc.string(),
          fc.jsonValue().map((v) => stringify({ mirrors: v, registryMirrors: v, machine: { registries: { mirrors: v } }, configs: v })),
        ),
        (text) => {
          try {
            IMPORT_FORMATS[format].run({ kind: "text", text }, {});
          } catch (e) {
            if (!(e instanceof RegistryMirrorsError)) throw e;
          }
        },
      ),
      RUNS,
    );
  });
});
