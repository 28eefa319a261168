import { parse } from "smol-toml";
import { crioDropIn, renderNodeConfig, type Mirror, type RenderInput } from "../../src";
import { CA, problems, SERVER_CERT } from "./scenarios";

const CRIO = { kind: "cri-o" as const, version: "1.29.1" };
const DOCKER = { kind: "docker" as const, version: "24.0.7" };

function dropIn(mirrors: Mirror[]) {
  const plan = renderNodeConfig({ mirrors, runtime: CRIO });
  // One drop-in per upstream, taken in the order of the mirrors.
  const files = mirrors.map((m) => plan.files.find((f) => f.path === `/etc/containers/registries.conf.d/${crioDropIn(m.upstream)}`)!);
  return { registry: files.flatMap((f) => (parse(f.content) as { registry: Record<string, unknown>[] }).registry) };
}

describe("CRI-O / containers-registries.conf", () => {
  it("never puts a scheme in a location and marks http and skipVerify insecure", () => {
    const doc = dropIn([
      {
        upstream: "gcr.io",
        endpoints: [{ url: "http://10.0.0.5:5000" }, { url: "https://m.internal", skipVerify: true }, { url: "https://ok.internal" }],
      },
    ]);
    expect(doc.registry[0]).toEqual({
      prefix: "gcr.io",
      location: "gcr.io",
      mirror: [{ location: "10.0.0.5:5000", insecure: true }, { location: "m.internal", insecure: true }, { location: "ok.internal" }],
    });
  });

  it("shares containerd's rules: the API root is no path (\"\" and /v2 alike), credentials sorted by host whatever the mirrors' order", () => {
    const doc = dropIn([{ upstream: "quay.io", endpoints: [{ url: "https://a.internal/v2" }, { url: "https://b.internal/" }] }]);
    expect(doc.registry[0].mirror).toEqual([{ location: "a.internal" }, { location: "b.internal" }]);
    const auth = { username: "u", password: "p" };
    const plan = renderNodeConfig({
      mirrors: [
        { upstream: "quay.io", endpoints: [{ url: "https://z.internal", auth }] },
        {
          upstream: "gcr.io",
          endpoints: [
            { url: "https://a.internal:5000", auth },
            { url: "https://a.internal", auth },
          ],
        },
      ],
      runtime: CRIO,
    });
    const authFile = JSON.parse(plan.files.find((f) => f.path === "/etc/containers/registry-mirrors-auth.json")!.content) as {
      auths: Record<string, unknown>;
    };
    expect(Object.keys(authFile.auths)).toEqual(["a.internal", "a.internal:5000", "z.internal"]);
  });

  it("fallback: false makes the last mirror the location, so the upstream is never contacted and order is kept", () => {
    const doc = dropIn([{ upstream: "quay.io", fallback: false, endpoints: [{ url: "https://a.internal" }, { url: "https://b.internal/v2/quay" }] }]);
    expect(doc.registry[0]).toEqual({ prefix: "quay.io", location: "b.internal/quay", mirror: [{ location: "a.internal" }] });
  });

  it("digestOnly and pull-only endpoints become pull-from-mirror = digest-only", () => {
    const doc = dropIn([
      { upstream: "quay.io", digestOnly: true, endpoints: [{ url: "https://a.internal" }] },
      { upstream: "gcr.io", endpoints: [{ url: "https://b.internal", capabilities: ["pull"] }] },
    ]);
    expect((doc.registry[0].mirror as unknown[])[0]).toEqual({ location: "a.internal", "pull-from-mirror": "digest-only" });
    expect((doc.registry[1].mirror as unknown[])[0]).toEqual({ location: "b.internal", "pull-from-mirror": "digest-only" });
  });

  it("puts the mirror CA where containers/image looks for it and reloads", () => {
    const plan = renderNodeConfig({
      mirrors: [{ upstream: "docker.io", endpoints: [{ url: "https://m.internal:8443", caCert: CA }] }],
      runtime: CRIO,
    });
    expect(plan.files.map((f) => f.path)).toContain("/etc/containers/certs.d/m.internal:8443/ca.crt");
    expect(plan.action).toBe("reload");
  });

  it('says what it cannot express: "*", headers, a path outside /v2, fallback without a resolving last mirror', () => {
    const found = problems({
      runtime: CRIO,
      mirrors: [
        { upstream: "*", endpoints: [{ url: "https://a.internal" }] },
        { upstream: "gcr.io", endpoints: [{ url: "https://b.internal/ns", headers: { "X-A": "1" } }] },
        { upstream: "quay.io", fallback: false, endpoints: [{ url: "https://c.internal", capabilities: ["pull"] }] },
      ],
    });
    expect(found.map((p) => p.path)).toEqual([
      "mirrors[0].upstream",
      "mirrors[1].endpoints[0].headers",
      "mirrors[1].endpoints[0].url",
      "mirrors[2].endpoints[0].capabilities",
    ]);
  });

  it("two endpoints on one host share one CA file: the same CA is fine, a different one is a conflict", () => {
    const twoMirrors = (second: string): RenderInput => ({
      runtime: CRIO,
      mirrors: [
        { upstream: "a.io", endpoints: [{ url: "https://m.internal/v2/a", caCert: CA }] },
        { upstream: "b.io", endpoints: [{ url: "https://m.internal/v2/b", caCert: second }] },
      ],
    });
    expect(() => renderNodeConfig(twoMirrors(CA))).not.toThrow();
    const [conflict] = problems(twoMirrors(SERVER_CERT));
    expect(conflict).toMatchObject({ path: "mirrors[1].endpoints[0].caCert", message: expect.stringContaining("mirrors[0].endpoints[0].caCert") });
  });
});

describe("Docker Engine daemon.json", () => {
  it("merges into the live JSON, keeps other keys, reloads", () => {
    const plan = renderNodeConfig({
      runtime: DOCKER,
      liveConfig: '{"debug": true}',
      mirrors: [{ upstream: "docker.io", endpoints: [{ url: "https://mirror.gcr.io/" }] }],
    });
    expect(JSON.parse(plan.mainConfig!.content)).toEqual({ debug: true, "registry-mirrors": ["https://mirror.gcr.io"] });
    expect(plan.action).toBe("reload");
  });

  it("unchanged daemon.json: no reload", () => {
    const live = '{"registry-mirrors": ["https://mirror.gcr.io"]}';
    const plan = renderNodeConfig({
      runtime: DOCKER,
      liveConfig: live,
      mirrors: [{ upstream: "docker.io", endpoints: [{ url: "https://mirror.gcr.io" }] }],
    });
    expect(plan.mainConfig).toBeUndefined();
    expect(plan.action).toBe("none");
  });

  it("refuses what Docker cannot do, naming each field", () => {
    const found = problems({
      runtime: DOCKER,
      liveConfig: "{}",
      mirrors: [
        { upstream: "gcr.io", endpoints: [{ url: "https://m.internal" }] },
        { upstream: "docker.io", fallback: false, endpoints: [{ url: "https://m.internal", auth: { username: "u", password: "p" } }] },
      ],
    });
    expect(found.map((p) => p.path)).toEqual(["mirrors[0].upstream", "mirrors[1].fallback", "mirrors[1].endpoints[0].auth"]);
    expect(found[0].message).toContain("can only mirror docker.io");
  });

  it("a daemon.json that is not JSON is a clear error", () => {
    expect(
      problems({ runtime: DOCKER, liveConfig: "{debug", mirrors: [{ upstream: "docker.io", endpoints: [{ url: "https://m.internal" }] }] })[0].path,
    ).toBe("liveConfig");
  });
});

describe("renderNodeConfig input", () => {
  it("rejects an unknown runtime and relative paths", () => {
    expect(problems({ runtime: { kind: "podman" as never }, mirrors: [] })[0].path).toBe("runtime.kind");
    expect(problems({ runtime: CRIO, mirrors: [], paths: { registriesDir: "etc/containers" } })[0].path).toBe("paths.registriesDir");
    expect(problems({ runtime: CRIO, mirrors: [], paths: { hostsDir: "/etc/my certs" } })[0].path).toBe("paths.hostsDir");
    expect(problems({ runtime: CRIO, mirrors: [], paths: { hostDir: "/x" } as never })[0]).toMatchObject({
      path: "paths.hostDir",
      message: expect.stringContaining("hostsDir"),
    });
  });
});
