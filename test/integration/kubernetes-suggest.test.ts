/**
 * suggest against the real API server of the lab cluster: pods created in two namespaces (bound to a node that does
 * not exist, so nothing is pulled), their images grouped by registry, what the spec covers, and the CLI's output.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { main } from "../../src/cli";
import { listPodImages, suggestMirrors } from "../../src/kubernetes/suggest";
import { startCluster, Cluster } from "../lab/cluster";

jest.setTimeout(180_000);

const pod = (namespace: string, name: string, containers: Record<string, string>, init: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { namespace, name },
  spec: {
    nodeName: "no-such-node",
    initContainers: Object.entries(init).map(([n, image]) => ({ name: n, image })),
    containers: Object.entries(containers).map(([n, image]) => ({ name: n, image })),
  },
});

describe("suggest against a real API server", () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ log: (l) => process.stderr.write(l + "\n") });
    await cluster.kubectlOk(["create", "namespace", "team"]);
    for (const p of [
      pod("default", "web", { nginx: "nginx:1.27", exporter: "quay.io/prometheus/node-exporter:v1.8.0" }, { init: "busybox:1.36" }),
      pod("team", "api", { app: "ghcr.io/org/app:1", proxy: "docker.io/library/nginx:1.27" }),
    ]) {
      await cluster.kubectlOk(["create", "-f", "-"], { input: JSON.stringify(p) });
    }
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test("lists the images of every pod and groups them by registry", async () => {
    const images = await listPodImages({ kubeconfig: cluster.kubeconfig, pageSize: 1 });
    const ours = images.filter((i) => /^(default|team)\//.test(i.where));
    expect(ours.map((i) => i.where).sort()).toEqual([
      "default/web/exporter",
      "default/web/init",
      "default/web/nginx",
      "team/api/app",
      "team/api/proxy",
    ]);
    const s = suggestMirrors(ours, [{ upstream: "docker.io", endpoints: [{ url: "https://hub.mirror" }] }]);
    expect(s.registries.map((r) => [r.registry, r.containers, r.pods, r.coveredBy])).toEqual([
      ["docker.io", 3, 2, "docker.io"],
      ["ghcr.io", 1, 1, undefined],
      ["quay.io", 1, 1, undefined],
    ]);
  });

  test("the CLI prints the registries on stderr and a spec on stdout", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rm-suggest-"));
    try {
      const spec = path.join(dir, "spec.yaml");
      fs.writeFileSync(spec, "mirrors:\n  - upstream: docker.io\n    endpoints: [{ url: https://hub.mirror }]\n");
      let out = "";
      let err = "";
      const io = { out: (t: string) => (out += t), err: (t: string) => (err += t) };
      expect(await main(["suggest", "--kubeconfig", cluster.kubeconfig, "--spec", spec, "--mirror", "https://harbor.corp"], io)).toBe(0);
      expect(err).toMatch(/^docker\.io: 3 container\(s\) in 2 pod\(s\), 2 image\(s\); mirrored \(docker\.io\)$/m);
      expect(err).toMatch(/^quay\.io: 1 container\(s\) in 1 pod\(s\), 1 image\(s\); NOT mirrored$/m);
      expect(parse(out).mirrors).toEqual([
        { upstream: "docker.io", endpoints: [{ url: "https://hub.mirror" }] },
        { upstream: "ghcr.io", endpoints: [{ url: "https://harbor.corp/v2/ghcr-io" }] },
        { upstream: "quay.io", endpoints: [{ url: "https://harbor.corp/v2/quay-io" }] },
      ]);
      err = "";
      expect(await main(["suggest", "--kubeconfig", path.join(dir, "missing")], io)).toBe(1);
      expect(err).toMatch(/^error: .*missing/);
      expect(await main(["suggest"], io)).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
