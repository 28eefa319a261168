/**
 * Properties over generated input (fast-check): validation never throws on arbitrary JSON and never echoes a secret;
 * rendering is deterministic and converges (rendering again from what it wrote changes nothing); the config.toml
 * edit changes config_path and nothing else on any config.toml it accepts.
 */
import fc from "fast-check";
import { parse, stringify } from "smol-toml";
import { RegistryMirrorsError, renderNodeConfig, type Mirror, type RuntimeInfo } from "../../src";
import { findProblems } from "../../src/model/validate";
import { LIVE_V1, LIVE_V2, LIVE_V3 } from "./scenarios";

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) };

const secretText = (prefix: string) => fc.stringMatching(/^[A-Za-z0-9]{12,20}$/).map((s) => `${prefix}${s}`);
const host = fc.constantFrom("mirror.internal", "10.0.0.5", "harbor.example.com", "[fd00::5]", "m-2.corp.example");
const endpoint = fc.record(
  {
    url: fc
      .tuple(
        fc.constantFrom("http", "https"),
        host,
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        fc.constantFrom("", "/v2/dockerhub", "/v2/library/x"),
      )
      .map(([scheme, h, port, path]) => `${scheme}://${h}${port ? `:${port}` : ""}${path}`),
    capabilities: fc.option(fc.constantFrom<("pull" | "resolve" | "push")[]>(["pull"], ["pull", "resolve"], ["pull", "resolve", "push"]), {
      nil: undefined,
    }),
    skipVerify: fc.option(fc.boolean(), { nil: undefined }),
    auth: fc.option(fc.record({ username: fc.constantFrom("robot$puller", "u"), password: secretText("PW") }), { nil: undefined }),
    headers: fc.option(fc.record({ "X-Token": secretText("HV") }), { nil: undefined }),
  },
  { requiredKeys: ["url"] },
);
const mirror: fc.Arbitrary<Mirror> = fc.record(
  {
    upstream: fc.constantFrom("docker.io", "gcr.io", "quay.io", "registry.k8s.io", "registry.local:5000", "*", "index.docker.io"),
    endpoints: fc.uniqueArray(endpoint, { minLength: 1, maxLength: 3, selector: (e) => e.url.replace(/\/$/, "") }),
    fallback: fc.option(fc.boolean(), { nil: undefined }),
    digestOnly: fc.option(fc.boolean(), { nil: undefined }),
  },
  { requiredKeys: ["upstream", "endpoints"] },
) as fc.Arbitrary<Mirror>;
const mirrors = fc.uniqueArray(mirror, {
  minLength: 0,
  maxLength: 4,
  selector: (m) => (m.upstream === "index.docker.io" ? "docker.io" : m.upstream),
});
/** A containerd and a config.toml it can run with (a schema it does not read is refused, rightly). */
const node = fc.oneof(
  fc.tuple(
    fc.constantFrom<RuntimeInfo>({ kind: "containerd", version: "1.6.20" }, { kind: "containerd", version: "1.7.22" }),
    fc.constantFrom("", LIVE_V1, LIVE_V2),
  ),
  fc.tuple(fc.constant<RuntimeInfo>({ kind: "containerd", version: "2.1.4" }), fc.constantFrom("", LIVE_V2, LIVE_V3)),
);

/** Renders, or `undefined` for a spec the runtime cannot express (a RegistryMirrorsError, never anything else). */
function tryRender(input: Parameters<typeof renderNodeConfig>[0]) {
  try {
    return renderNodeConfig(input);
  } catch (e) {
    if (e instanceof RegistryMirrorsError) return undefined;
    throw e;
  }
}

describe("validation", () => {
  it("never throws on arbitrary JSON and always names a field", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const problems = findProblems(value);
        return problems.every((p) => typeof p.path === "string" && p.path.startsWith("mirrors") && typeof p.message === "string" && p.message !== "");
      }),
      RUNS,
    );
  });

  it("never echoes a password or a header value, even for an otherwise broken spec", () => {
    const broken = fc
      .tuple(mirrors, fc.constantFrom("upstream", "url", "none"))
      .map(([ms, breakWhat]) =>
        ms.map((m, i) =>
          i > 0 || breakWhat === "none"
            ? m
            : breakWhat === "upstream"
              ? { ...m, upstream: "not a host!" }
              : { ...m, endpoints: m.endpoints.map((e) => ({ ...e, url: `${e.url} bad` })) },
        ),
      );
    fc.assert(
      fc.property(broken, (ms) => {
        const text = JSON.stringify(findProblems(ms));
        const secrets = ms
          .flatMap((m) => m.endpoints.flatMap((e) => [e.auth?.password, ...Object.values(e.headers ?? {})]))
          .filter((s): s is string => !!s);
        return secrets.every((s) => !text.includes(s));
      }),
      RUNS,
    );
  });
});

describe("rendering", () => {
  it("is deterministic: the same input gives the same bytes", () => {
    fc.assert(
      fc.property(mirrors, node, (ms, [runtime, liveConfig]) => {
        const a = tryRender({ mirrors: ms, runtime, liveConfig });
        const b = tryRender({ mirrors: structuredClone(ms), runtime, liveConfig });
        expect(b).toEqual(a);
      }),
      RUNS,
    );
  });

  it("converges: rendered again from what it wrote, nothing changes and nothing restarts", () => {
    let rendered = 0;
    fc.assert(
      fc.property(mirrors, node, (ms, [runtime, liveConfig]) => {
        const first = tryRender({ mirrors: ms, runtime, liveConfig });
        if (!first) return;
        rendered += 1;
        const written = first.mainConfig?.content ?? liveConfig;
        const second = renderNodeConfig({ mirrors: ms, runtime, liveConfig: written });
        expect(second.mainConfig).toBeUndefined();
        expect(second.action).toBe("none");
        expect(second.files).toEqual(first.files);
      }),
      RUNS,
    );
    // Many generated specs are ones containerd can express: the property is not vacuous.
    expect(rendered).toBeGreaterThan(RUNS.numRuns * 0.4);
  });

  it("CRI-O and Docker: deterministic too, and a spec they cannot express is a RegistryMirrorsError", () => {
    fc.assert(
      fc.property(
        mirrors,
        fc.constantFrom<RuntimeInfo>({ kind: "cri-o", version: "1.29.1" }, { kind: "docker", version: "24.0.7" }),
        (ms, runtime) => {
          const liveConfig = runtime.kind === "docker" ? '{"log-driver": "json-file"}\n' : undefined;
          expect(tryRender({ mirrors: structuredClone(ms), runtime, liveConfig })).toEqual(tryRender({ mirrors: ms, runtime, liveConfig }));
        },
      ),
      RUNS,
    );
  });
});

describe("the config.toml edit", () => {
  const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean());
  const table = fc.dictionary(fc.stringMatching(/^[a-z][a-z_]{0,8}$/), scalar, { maxKeys: 4 });
  /** A version-2 config.toml with random settings around (and inside) the CRI plugin's tables. */
  const configToml = fc
    .record({ top: table, cri: table, registry: table, other: table, comment: fc.boolean() })
    .map(({ top, cri, registry, other, comment }) => {
      const registryTable: Record<string, unknown> = { ...registry };
      delete registryTable.config_path;
      delete registryTable.mirrors;
      delete registryTable.configs;
      const doc = {
        ...top,
        version: 2,
        plugins: { "io.containerd.grpc.v1.cri": { ...cri, registry: registryTable }, "io.containerd.other.v1": other },
      };
      const text = stringify(doc);
      return comment ? `# managed by the ops team\n${text.replace(/\n\[/, "\n# a comment before a table\n[")}\n` : `${text}\n`;
    });

  it("changes config_path and nothing else, on any config.toml it accepts", () => {
    let edited = 0;
    fc.assert(
      fc.property(configToml, (text) => {
        const plan = tryRender({
          mirrors: [{ upstream: "docker.io", endpoints: [{ url: "https://mirror.internal" }] }],
          runtime: { kind: "containerd", version: "1.7.22" },
          liveConfig: text,
        });
        if (!plan) return;
        edited += 1;
        const before = parse(text) as { plugins: Record<string, { registry?: Record<string, unknown> }> };
        const after = parse(plan.mainConfig!.content) as typeof before;
        expect(after.plugins["io.containerd.grpc.v1.cri"].registry?.config_path).toBe("/etc/containerd/certs.d");
        delete after.plugins["io.containerd.grpc.v1.cri"].registry!.config_path;
        expect(JSON.parse(JSON.stringify(after))).toEqual(JSON.parse(JSON.stringify(before)));
      }),
      RUNS,
    );
    expect(edited).toBeGreaterThan(RUNS.numRuns * 0.9);
  });
});
