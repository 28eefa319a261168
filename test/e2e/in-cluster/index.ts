/**
 * RegistryMirrorsInCluster on the cluster the stack's `kubeconfig` (a path) names, through a Kubernetes provider of
 * that kubeconfig; `mirrors` as for RegistryMirrors, and `inCluster` with the node-side settings of the lab's kubelet
 * node (its image, hosts directory, state directory, CRI socket, crictl).
 */
import * as fs from "fs";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { MirrorArgs } from "../../../src";
import { RegistryMirrorsInCluster, type RegistryMirrorsInClusterArgs } from "../../../src/in-cluster";

const config = new pulumi.Config();
const kubeconfig = config.require("kubeconfig");
// Secret: the kubeconfig holds the admin's private key, which a preview would print.
const provider = new k8s.Provider("cluster", { kubeconfig: pulumi.secret(fs.readFileSync(kubeconfig, "utf8")) });
const settings = config.requireObject<Omit<RegistryMirrorsInClusterArgs, "mirrors" | "kubeconfig">>("inCluster");
const mirrors = new RegistryMirrorsInCluster(
  "mirrors",
  { ...settings, mirrors: config.requireObject<MirrorArgs[]>("mirrors"), kubeconfig },
  { providers: { kubernetes: provider } },
);
export const rollout = mirrors.rollout;
export const files = mirrors.files;
export const reads = mirrors.reads;
