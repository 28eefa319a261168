import { podImages, suggestMirrors } from "../../src/kubernetes/suggest";

const DIGEST = `sha256:${"a".repeat(64)}`;
const PODS = {
  items: [
    {
      metadata: { namespace: "default", name: "web" },
      spec: {
        initContainers: [{ name: "init", image: `busybox@${DIGEST}` }],
        containers: [
          { name: "nginx", image: "nginx:1.27" },
          { name: "exporter", image: "quay.io/prometheus/node-exporter:v1.8.0" },
        ],
      },
    },
    {
      metadata: { namespace: "team", name: "api" },
      spec: {
        containers: [
          { name: "app", image: "ghcr.io/org/app:1" },
          { name: "proxy", image: "docker.io/library/nginx:1.27" },
          { name: "bad", image: "UPPER CASE" },
        ],
        ephemeralContainers: [{ name: "debug", image: "registry-1.docker.io/library/busybox:1.36" }],
      },
    },
  ],
};

describe("suggest", () => {
  it("takes every container of every pod, init and ephemeral ones too", () => {
    expect(podImages(PODS).map((i) => i.where)).toEqual([
      "default/web/init",
      "default/web/nginx",
      "default/web/exporter",
      "team/api/app",
      "team/api/proxy",
      "team/api/bad",
      "team/api/debug",
    ]);
    expect(() => podImages({ kind: "Status" })).toThrow(/not a PodList/);
  });

  it("groups by registry with Docker Hub names normalised and digests kept, says what the spec covers, proposes the rest", () => {
    const s = suggestMirrors(podImages(PODS), [{ upstream: "docker.io", endpoints: [{ url: "https://hub.mirror" }] }], {
      mirrorBase: "https://harbor.corp/",
    });
    expect(s.registries).toEqual([
      {
        registry: "docker.io",
        containers: 4,
        pods: 2,
        images: ["docker.io/library/busybox:1.36", `docker.io/library/busybox@${DIGEST}`, "docker.io/library/nginx:1.27"],
        coveredBy: "docker.io",
      },
      { registry: "ghcr.io", containers: 1, pods: 1, images: ["ghcr.io/org/app:1"] },
      { registry: "quay.io", containers: 1, pods: 1, images: ["quay.io/prometheus/node-exporter:v1.8.0"] },
    ]);
    expect(s.unparsable).toEqual([{ image: "UPPER CASE", where: "team/api/bad" }]);
    expect(s.proposed).toEqual([
      { upstream: "docker.io", endpoints: [{ url: "https://hub.mirror" }] },
      { upstream: "ghcr.io", endpoints: [{ url: "https://harbor.corp/v2/ghcr-io" }] },
      { upstream: "quay.io", endpoints: [{ url: "https://harbor.corp/v2/quay-io" }] },
    ]);
  });

  it("counts a catch-all mirror as covering everything", () => {
    const s = suggestMirrors(podImages(PODS), [{ upstream: "*", endpoints: [{ url: "https://any.mirror" }] }]);
    expect(s.registries.every((r) => r.coveredBy === "*")).toBe(true);
    expect(s.proposed).toHaveLength(1);
  });
});
