/**
 * examples/yaml-cluster-nodes through the real engine on lab nodes, their Nodes listed by the lab cluster's real API
 * server (the YAML language host, the package named in `packages:` by hand): see package-example.ts for what is
 * checked; the nodes, their addresses and runtimes come from the cluster, not from the program.
 */
import * as fs from "fs";
import * as path from "path";
import { describePackageExample } from "./package-example";
import { ROOT } from "./stack";

jest.setTimeout(600_000);

describePackageExample({
  language: "yamlcluster",
  dir: "examples/yaml-cluster-nodes",
  host: "pulumi-language-yaml",
  projectYaml: () => fs.readFileSync(path.join(ROOT, "examples/yaml-cluster-nodes", "Pulumi.yaml"), "utf8"),
  config: (d) => {
    const [n1, n2] = d.nodes;
    return { worker1HostKey: n1.hostKey, worker1Port: n1.port, worker2HostKey: n2.hostKey, worker2Port: n2.port };
  },
  clusterConfig: (cluster) => ({ kubeconfig: cluster.kubeconfig, labelSelector: "registry-mirrors.lab/ssh=yes" }),
});
