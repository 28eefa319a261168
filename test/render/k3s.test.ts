import { parse } from "yaml";
import { parseRuntimeVersion, renderNodeConfig, type Mirror } from "../../src";
import { hasDefaultEndpointFlag } from "../../src/render/k3s";
import { CA, problems } from "./scenarios";

const K3S = { kind: "k3s" as const, version: "1.31.4" };
const RKE2 = { kind: "rke2" as const, version: "1.31.4" };
const HUB: Mirror = { upstream: "docker.io", endpoints: [{ url: "https://harbor.internal/v2/proxy-docker" }, { url: "http://10.0.0.5:5000" }] };
const AUTH: Mirror = {
  upstream: "quay.io",
  endpoints: [{ url: "https://secure.internal:8443", caCert: CA, auth: { username: "robot", password: "s3cret" } }],
};
const FOREIGN = `# written by the cluster's installer
mirrors:
  registry.corp:
    endpoint:
      - "https://registry.corp.mirror"
configs:
  registry.corp.mirror:
    auth: { username: corp, password: corp-pass }
`;

describe("k3s / RKE2 registries.yaml", () => {
  it("writes mirrors with ordered endpoints, configs for TLS and credentials by file path, 0600 when it holds credentials", () => {
    const plan = renderNodeConfig({ mirrors: [HUB, AUTH], runtime: K3S, liveConfig: "" });
    expect(plan.action).toBe("restart");
    expect(plan.mainConfig?.path).toBe("/etc/rancher/k3s/registries.yaml");
    expect(plan.mainConfig?.mode).toBe(0o600);
    expect(parse(plan.mainConfig!.content)).toEqual({
      mirrors: {
        "docker.io": { endpoint: ["https://harbor.internal/v2/proxy-docker", "http://10.0.0.5:5000"] },
        "quay.io": { endpoint: ["https://secure.internal:8443"] },
      },
      configs: {
        "secure.internal:8443": {
          auth: { username: "robot", password: "s3cret" },
          tls: { ca_file: "/etc/rancher/k3s/registry-mirrors/secure.internal_8443/ca.crt" },
        },
      },
    });
    expect(plan.files.map((f) => [f.path, f.mode])).toEqual([["/etc/rancher/k3s/registry-mirrors/secure.internal_8443/ca.crt", 0o644]]);
  });

  it("keeps every entry it does not own, and plans nothing when its own entries are already there", () => {
    const first = renderNodeConfig({ mirrors: [HUB], runtime: K3S, liveConfig: FOREIGN });
    const doc = parse(first.mainConfig!.content);
    expect(doc.mirrors["registry.corp"]).toEqual({ endpoint: ["https://registry.corp.mirror"] });
    expect(doc.configs["registry.corp.mirror"]).toEqual({ auth: { username: "corp", password: "corp-pass" } });
    expect(first.mainConfig!.content).toContain("# written by the cluster's installer");
    // No credentials of ours: the file keeps its own mode.
    expect(first.mainConfig!.mode).toBeUndefined();
    const again = renderNodeConfig({ mirrors: [HUB], runtime: K3S, liveConfig: first.mainConfig!.content });
    expect(again.mainConfig).toBeUndefined();
    expect(again.action).toBe("none");
  });

  it("replaces its own earlier entries on a spec change, wherever they are in the file", () => {
    const first = renderNodeConfig({ mirrors: [HUB, AUTH], runtime: K3S, liveConfig: "" }).mainConfig!.content;
    // Someone adds an entry after ours.
    const edited = first.replace("mirrors:\n", "mirrors:\n  ghcr.io:\n    endpoint: [https://ghcr.corp]\n");
    const next = renderNodeConfig({ mirrors: [AUTH], runtime: K3S, liveConfig: edited });
    const doc = parse(next.mainConfig!.content);
    expect(Object.keys(doc.mirrors)).toEqual(["ghcr.io", "quay.io"]);
    expect(Object.keys(doc.configs)).toEqual(["secure.internal:8443"]);
    const none = renderNodeConfig({ mirrors: [], runtime: K3S, liveConfig: next.mainConfig!.content });
    expect(parse(none.mainConfig!.content)).toEqual({ mirrors: { "ghcr.io": { endpoint: ["https://ghcr.corp"] } }, configs: {} });
  });

  it("replaces someone else's entry for a registry it mirrors, and says so", () => {
    const live = `mirrors:\n  docker.io:\n    endpoint: ["https://old.mirror"]\n`;
    const plan = renderNodeConfig({ mirrors: [HUB], runtime: K3S, liveConfig: live });
    expect(parse(plan.mainConfig!.content).mirrors["docker.io"].endpoint[0]).toBe("https://harbor.internal/v2/proxy-docker");
    expect(plan.warnings.join("\n")).toMatch(/had its own mirrors\."docker\.io"; registry-mirrors replaces it/);
  });

  it('writes "*" quoted and uses the RKE2 paths on RKE2 nodes', () => {
    const plan = renderNodeConfig({ mirrors: [{ upstream: "*", endpoints: [{ url: "https://any.mirror" }] }], runtime: RKE2, liveConfig: "" });
    expect(plan.mainConfig!.path).toBe("/etc/rancher/rke2/registries.yaml");
    expect(plan.mainConfig!.content).toMatch(/^ {2}"\*":$/m);
  });

  it("names every field registries.yaml cannot express", () => {
    const got = problems({
      runtime: K3S,
      liveConfig: "",
      mirrors: [
        { upstream: "docker.io", digestOnly: true, endpoints: [{ url: "https://a.mirror" }] },
        {
          upstream: "gcr.io",
          fallback: false,
          endpoints: [
            { url: "https://b.mirror", capabilities: ["pull"] },
            { url: "https://c.mirror", headers: { "X-Team": "a" } },
          ],
        },
      ],
    });
    expect(got.map((p) => p.path)).toEqual([
      "mirrors[0].digestOnly",
      "mirrors[1].fallback",
      "mirrors[1].endpoints[0].capabilities",
      "mirrors[1].endpoints[1].headers",
    ]);
    expect(got[1].message).toMatch(/--disable-default-registry-endpoint stops it for every registry of the node/);
    const old = problems({ runtime: { kind: "k3s", version: "1.25.9" }, liveConfig: "", mirrors: [{ ...HUB, fallback: false }] });
    expect(old[0].message).toMatch(/k3s 1\.25\.9 has no --disable-default-registry-endpoint/);
  });

  it("refuses a registries.yaml it cannot edit safely, before anything is planned", () => {
    expect(problems({ runtime: K3S, liveConfig: "mirrors: [a\n", mirrors: [HUB] })[0]).toMatchObject({ path: "liveConfig" });
    expect(problems({ runtime: K3S, liveConfig: "- a\n", mirrors: [HUB] })[0].message).toMatch(/must hold a map/);
    expect(problems({ runtime: K3S, liveConfig: "mirrors: 3\n", mirrors: [HUB] })[0].message).toMatch(/mirrors that is not a map/);
  });

  it("leaves registries.yaml alone when it was not read, with a warning", () => {
    const plan = renderNodeConfig({ mirrors: [HUB], runtime: K3S });
    expect(plan.mainConfig).toBeUndefined();
    expect(plan.warnings[0]).toMatch(/registries.yaml was not read/);
  });

  it("recognises k3s and RKE2 --version and which releases have --disable-default-registry-endpoint", () => {
    expect(parseRuntimeVersion("k3s version v1.31.4+k3s1 (a5e6b1cc)\ngo version go1.22.9")).toEqual({ kind: "k3s", version: "1.31.4" });
    expect(parseRuntimeVersion("rke2 version v1.32.2+rke2r1 (5d2b2a3f)")).toEqual({ kind: "rke2", version: "1.32.2" });
    expect([hasDefaultEndpointFlag("1.26.12"), hasDefaultEndpointFlag("1.26.13"), hasDefaultEndpointFlag("1.28.5")]).toEqual([false, true, false]);
    expect([hasDefaultEndpointFlag("1.30.0"), hasDefaultEndpointFlag(undefined), hasDefaultEndpointFlag("1.25.16")]).toEqual([true, false, false]);
  });
});
