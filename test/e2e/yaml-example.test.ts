/**
 * examples/yaml-nodes through the real engine on lab nodes (the YAML language host, the package named in
 * `packages:` by hand): see package-example.ts for what is checked.
 */
import * as fs from "fs";
import * as path from "path";
import { describePackageExample } from "./package-example";
import { ROOT } from "./stack";

jest.setTimeout(600_000);

const runtime = (r: string) => (r === "crio" ? "cri-o" : "containerd");

describePackageExample({
  language: "yaml",
  dir: "examples/yaml-nodes",
  host: "pulumi-language-yaml",
  // The program itself (the README's Pulumi.yaml), without the `main:` the stack adds: YAML programs are that file.
  projectYaml: () => fs.readFileSync(path.join(ROOT, "examples/yaml-nodes", "Pulumi.yaml"), "utf8"),
  config: (d) => {
    const [n1, n2] = d.nodes;
    return {
      worker1Host: n1.host,
      worker1Port: n1.port,
      worker1HostKey: n1.hostKey,
      worker1Runtime: runtime(n1.runtime),
      worker2Host: n2.host,
      worker2Port: n2.port,
      worker2HostKey: n2.hostKey,
      worker2Runtime: runtime(n2.runtime),
    };
  },
});
