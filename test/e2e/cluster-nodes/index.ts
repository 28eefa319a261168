/**
 * RegistryMirrors on the nodes the cluster lists: which nodes exist and what runtime each runs come from the API
 * server (`kubeconfig`, optional `labelSelector`); how to reach each over SSH comes from `ssh.<node name>`
 * (host, port, user, hostKey, optionally runtime). Nodes without an `ssh` entry are left out.
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { RegistryMirrors, type MirrorArgs, type NodeRuntime } from "../../../src";
import { mirrorNodesFromCluster } from "../../../src/kubernetes";

interface Ssh {
  host: string;
  port?: number;
  user?: string;
  hostKey: string;
  runtime?: NodeRuntime;
}

export = async () => {
  const config = new pulumi.Config();
  const ssh = config.requireObject<Record<string, Ssh>>("ssh");
  const privateKey = pulumi.secret(fs.readFileSync(config.require("privateKeyPath"), "utf8"));
  const nodes = await mirrorNodesFromCluster(
    { kubeconfig: config.require("kubeconfig"), labelSelector: config.get("labelSelector") },
    {
      node: (n) => {
        const s = ssh[n.name];
        if (!s) return undefined;
        return {
          connection: { host: s.host, port: s.port, user: s.user, privateKey, hostKey: s.hostKey, dialErrorLimit: 1, perDialTimeout: 5 },
          ...(s.runtime ? { runtime: s.runtime } : {}),
        };
      },
    },
  );
  const mirrors = new RegistryMirrors("mirrors", { mirrors: config.requireObject<MirrorArgs[]>("mirrors"), nodes });
  return { reports: mirrors.reports, nodes: nodes.map((n) => `${n.name}=${n.runtime}`) };
};
