/**
 * Docker Hub goes by three names (docker.io, index.docker.io, registry-1.docker.io), but containerd normalises every
 * Docker Hub image to docker.io before it looks up its hosts directory, and CRI-O matches the docker.io prefix: every
 * renderer must use that one canonical name, or the mirror is silently unused.
 */
import { parse } from "smol-toml";
import { renderNodeConfig, type Mirror } from "../../src";

const LIVE = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n';

describe.each(["index.docker.io", "registry-1.docker.io"])("upstream %s", (upstream) => {
  const mirrors: Mirror[] = [{ upstream, endpoints: [{ url: "https://mirror.internal:5000" }], fallback: false }];

  it("containerd: the hosts.toml goes to certs.d/docker.io, never contacting Docker Hub with fallback: false", () => {
    const plan = renderNodeConfig({ mirrors, runtime: { kind: "containerd", version: "1.7.13" }, liveConfig: LIVE });
    expect(plan.files.map((f) => f.path)).toEqual(["/etc/containerd/certs.d/docker.io/hosts.toml"]);
    expect(parse(plan.files[0].content).server).toBe("https://mirror.internal:5000");
  });

  it("containerd legacy write: the deprecated table is keyed docker.io", () => {
    const plan = renderNodeConfig({
      mirrors: [{ ...mirrors[0], fallback: undefined }],
      runtime: { kind: "containerd", version: "1.6.20" },
      liveConfig: "version = 2\n",
      legacy: "write",
    });
    const doc = parse(plan.mainConfig!.content) as { plugins: Record<string, { registry: { mirrors: Record<string, unknown> } }> };
    expect(Object.keys(doc.plugins["io.containerd.grpc.v1.cri"].registry.mirrors)).toEqual(["docker.io"]);
  });

  it("CRI-O: the registry prefix is docker.io", () => {
    const plan = renderNodeConfig({ mirrors, runtime: { kind: "cri-o" } });
    const dropIn = parse(plan.files.find((f) => f.path.endsWith("99-registry-mirrors-docker.io.conf"))!.content) as {
      registry: { prefix: string }[];
    };
    expect(dropIn.registry.map((r) => r.prefix)).toEqual(["docker.io"]);
  });
});
