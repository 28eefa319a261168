/**
 * examples/go-nodes through the real engine on lab nodes (the Go language host, the SDK that
 * `pulumi package add ../../pulumi-package` generated in sdks/): see package-example.ts for what is checked.
 */
import * as fs from "fs";
import * as path from "path";
import { describePackageExample } from "./package-example";

jest.setTimeout(600_000);

describePackageExample({
  language: "go",
  dir: "examples/go-nodes",
  host: "pulumi-language-go",
  // The program in the example's directory (main:), the package at its absolute path from the stack's Pulumi.yaml.
  projectYaml: (stack) => fs.readFileSync(path.join(stack.project, "Pulumi.yaml"), "utf8"),
  config: (d) => ({
    machines: d.nodes.map((n, i) => ({
      name: `worker${i + 1}`,
      host: n.host,
      port: n.port,
      hostKey: n.hostKey,
      runtime: n.runtime === "crio" ? "cri-o" : "containerd",
    })),
  }),
});
