/**
 * `RegistryMirrorsInCluster`: registry mirrors on nodes without SSH, from inside the cluster. A sibling of
 * `RegistryMirrors` on the same spec, renderer and node agent: the agent's scripts go into a ConfigMap (readable in
 * `pulumi preview --diff`), what they read on stdin (credentials) into a Secret, and a privileged DaemonSet runs them
 * on each node's filesystem. Pulumi waits for the rollout and fails naming the node and the agent's reason; deleting
 * the component first rolls every node back to the files it had, then deletes the DaemonSet.
 */
import * as path from "path";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { MirrorArgs } from "../component/args";
import { asArgumentsError, failure, RegistryMirrorsArgumentsError } from "../component/errors";
import { instanceOwner } from "../component/instance";
import { validateMirrors } from "../model/validate";
import type { Mirror, Problem } from "../model/types";
import { sha256, shq } from "../node/shell";
import { daemonSetManifest, DEFAULT_NODE_AGENT_IMAGE, DEFAULT_RESOURCES, type PodResources } from "./manifests";
import { inClusterPlan, type InClusterNodeSettings } from "./plan";
import type { ReadRequest, ReadResult, NodeRead } from "./read";
import type { RolloutRequest, RolloutResult } from "./rollout";

/** Arguments of {@link RegistryMirrorsInCluster}; how the agent finds things on the nodes: {@link InClusterNodeSettings}. */
export interface RegistryMirrorsInClusterArgs extends InClusterNodeSettings {
  /** The mirrors, as for `RegistryMirrors`. */
  readonly mirrors: pulumi.Input<pulumi.Input<MirrorArgs>[]>;
  /**
   * Kubeconfig (text or path) of the cluster, for the rollout wait and the removal, which run where Pulumi runs: the
   * one of the Kubernetes provider the component is given (its `providers` option). Treated as secret.
   */
  readonly kubeconfig: pulumi.Input<string>;
  /** The kubeconfig's context. Default: its current context. */
  readonly context?: string;
  /** Namespace of the ConfigMap, Secret and DaemonSet. Default: `kube-system`. */
  readonly namespace?: string;
  /** The node agent's image (src/in-cluster/pod: one static binary). Default: `ghcr.io/registry-mirrors/node-agent:0.1.0`. */
  readonly image?: string;
  /** When the kubelet pulls the image: `Always`, `IfNotPresent` or `Never` (an image imported on the nodes). Default: `IfNotPresent`. */
  readonly imagePullPolicy?: string;
  /** The pods' priority class, so that they are scheduled on full nodes too. Default: `system-node-critical`. */
  readonly priorityClassName?: string;
  /** Nodes whose pods are replaced at once; a failing node stops the rollout there. An integer. Default: 1. */
  readonly maxUnavailable?: number;
  /** Only nodes with these labels. Default: every node (every taint is tolerated). */
  readonly nodeSelector?: Record<string, string>;
  /** The container's requests and limits. Default: requests `cpu: 10m`, `memory: 16Mi`; limits `cpu: 200m`, `memory: 64Mi`. */
  readonly resources?: PodResources;
  /** Seconds to wait for every node's pod. An integer. Default: 300. */
  readonly rolloutTimeoutSeconds?: number;
  /** Instance ids (`project/stack/name`) whose files on the nodes this one may take over. */
  readonly takeOver?: string[];
}

/**
 * The local command that runs rollout-cli: this module's copy where it is (a program run from source uses ts-node),
 * else the package's `registry-mirrors rollout` bin (the state may be destroyed from another checkout).
 */
function rolloutCommand(action: "wait" | "remove" | "read" | "forget"): string {
  const here = path.join(__dirname, `rollout-cli${path.extname(__filename)}`);
  const node = shq(process.execPath);
  let run = `exec ${node} ${shq(here)} ${action}`;
  if (__filename.endsWith(".ts")) {
    // ts-node takes its tsconfig from the working directory by default: the program's, which may have none (YAML).
    const project = path.resolve(__dirname, "../../tsconfig.json");
    const preload = `-r ${shq(require.resolve("ts-node/register/transpile-only"))}`;
    run = `TS_NODE_PROJECT=${shq(project)} exec ${node} ${preload} ${shq(here)} ${action}`;
  }
  return `if [ -f ${shq(here)} ]; then ${run}; else exec npx --no-install registry-mirrors rollout ${action}; fi`;
}

/**
 * A local command of rollout-cli: `run` on create and update, `undo` on delete, the request (it holds the kubeconfig)
 * as secret stdin, stderr shown as it comes.
 */
function localRolloutCommand(
  name: string,
  [run, undo]: ["wait", "remove"] | ["read", "forget"],
  request: pulumi.Output<RolloutRequest | ReadRequest>,
  opts: pulumi.CustomResourceOptions,
): command.local.Command {
  return new command.local.Command(
    name,
    {
      create: rolloutCommand(run),
      update: rolloutCommand(run),
      delete: rolloutCommand(undo),
      stdin: pulumi.secret(request.apply((r) => JSON.stringify(r))),
      logging: "stderr",
      addPreviousOutputInEnv: false,
    },
    opts,
  );
}

/** The URN of the component's child command `child` (the command to replace to read the nodes again). */
function childUrn(componentUrn: string, child: string): string {
  // urn:pulumi:<stack>::<project>::<type chain>::<name>
  const [head, project, types] = componentUrn.split("::");
  return `${head}::${project}::${types}$command:local:Command::${child}`;
}

function checkArgs(name: string, args: RegistryMirrorsInClusterArgs): void {
  const problems: Problem[] = [];
  if (!/^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$/.test(name)) {
    problems.push({ path: "name", message: "must be a DNS label of at most 52 characters (it names the DaemonSet and its ConfigMap and Secret)" });
  }
  if (args.mirrors === undefined) problems.push({ path: "mirrors", message: "is required" });
  if (args.kubeconfig === undefined)
    problems.push({ path: "kubeconfig", message: "is required (the rollout wait and the removal read the DaemonSet)" });
  const max = args.maxUnavailable;
  if (max !== undefined && (!Number.isInteger(max) || max < 1))
    problems.push({ path: "maxUnavailable", message: "must be an integer of at least 1" });
  const t = args.rolloutTimeoutSeconds;
  if (t !== undefined && (!Number.isInteger(t) || t < 10))
    problems.push({ path: "rolloutTimeoutSeconds", message: "must be an integer of at least 10" });
  if (args.probe !== undefined && !["error", "warn", "off"].includes(args.probe))
    problems.push({ path: "probe", message: 'must be "error", "warn" or "off"' });
  for (const [k, v] of Object.entries({ criSocket: args.criSocket, crictl: args.crictl, stateDir: args.stateDir })) {
    if (v !== undefined && !/^\/\S+$/.test(v)) problems.push({ path: k, message: "must be an absolute path without whitespace" });
  }
  if (args.systemctl !== undefined && !/^\S+$/.test(args.systemctl))
    problems.push({ path: "systemctl", message: "must be a command name or an absolute path, without whitespace" });
  if (args.systemctl !== undefined && !args.allowConfigEdits)
    problems.push({
      path: "systemctl",
      message: "is used only with allowConfigEdits (without it nothing is restarted): set allowConfigEdits or drop systemctl",
    });
  if (problems.length > 0) throw new RegistryMirrorsArgumentsError(problems, "invalid RegistryMirrorsInCluster arguments");
}

/**
 * Registry mirrors on every node of a cluster, from a DaemonSet (no SSH). Writes containerd's hosts.toml files; each
 * node's config.toml must already point `config_path` at the hosts directory (managed node images mostly do; a node
 * where containerd does not read it fails with that reason) unless `allowConfigEdits` lets it set `config_path` and
 * restart containerd there, one node at a time. Otherwise nothing is restarted.
 */
export class RegistryMirrorsInCluster extends pulumi.ComponentResource {
  /** The rollout as the last wait saw it: per node, its pod and the agent's one-line results. */
  public readonly rollout: pulumi.Output<RolloutResult>;
  /** The files each node gets (paths), for review. */
  public readonly files: pulumi.Output<string[]>;
  /** With `allowConfigEdits`: what the read step found on each node (whether its config.toml changes). Else empty. */
  public readonly reads: pulumi.Output<NodeRead[]>;

  constructor(name: string, args: RegistryMirrorsInClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    checkArgs(name, args);
    super("registry-mirrors:index:RegistryMirrorsInCluster", name, {}, opts);
    const namespace = args.namespace ?? "kube-system";
    const urn = pulumi.output((this.urn as unknown as { promise(): Promise<string> }).promise());
    const owner = urn.apply((u) =>
      instanceOwner({ project: pulumi.getProject(), stack: pulumi.getStack(), name, urn: u ?? "", takeOver: args.takeOver, aliases: opts?.aliases }),
    );
    const mirrorsOutput = pulumi.output(args.mirrors as pulumi.Input<Mirror[]>);
    const nodeSettings: InClusterNodeSettings = {
      paths: args.paths,
      stateDir: args.stateDir,
      criSocket: args.criSocket,
      crictl: args.crictl,
      probe: args.probe,
      effectiveConfig: args.effectiveConfig,
      allowConfigEdits: args.allowConfigEdits,
      systemctl: args.systemctl,
    };
    const plan = pulumi.all([mirrorsOutput, owner, urn]).apply(([mirrors, o, u]) => {
      try {
        validateMirrors(mirrors);
        const p = inClusterPlan(mirrors, {
          ...nodeSettings,
          owner: o,
          reread: `pulumi up --replace '${childUrn(u ?? "", `${name}-read`)}'`,
        });
        for (const w of p.warnings) pulumi.log.info(`registry-mirrors: ${w}`, this);
        return p;
      } catch (e) {
        throw failure("registry-mirrors: invalid mirrors", asArgumentsError(e, "invalid RegistryMirrorsInCluster arguments"), this);
      }
    });
    // The ConfigMap and Secret are auto-named: a change creates new ones and the DaemonSet moves to them (create
    // before delete). deleteBeforeReplace would make Pulumi replace the DaemonSet and the rollout command with them,
    // and the rollout command's delete rolls the nodes back.
    const child = { parent: this };
    const labels = { "registry-mirrors.io/instance": name };
    const scripts = new k8s.core.v1.ConfigMap(
      `${name}-scripts`,
      // Not secret even when the mirrors are (a password in them): the scripts hold no credential (they are on stdin).
      { metadata: { namespace, labels }, data: pulumi.unsecret(plan.apply((p) => ({ ...p.scripts }))) },
      child,
    );
    const secret = new k8s.core.v1.Secret(
      `${name}-stdin`,
      { metadata: { namespace, labels }, type: "Opaque", stringData: pulumi.secret(plan.apply((p) => ({ ...p.secret }))) },
      child,
    );
    const podSettings = {
      image: args.image ?? DEFAULT_NODE_AGENT_IMAGE,
      imagePullPolicy: args.imagePullPolicy ?? "IfNotPresent",
      priorityClassName: args.priorityClassName ?? "system-node-critical",
      nodeSelector: args.nodeSelector,
      agentTimeoutSeconds: Math.max(60, (args.rolloutTimeoutSeconds ?? 300) - 10),
      resources: args.resources ?? DEFAULT_RESOURCES,
    };
    // With config edits, the read step (before the DaemonSet): every node read, each node's plan in `<name>-nodes`.
    // It runs again when the mirrors or the scripts change, or with `pulumi up --replace` of this command.
    let read: pulumi.Output<ReadResult | undefined> = pulumi.output(undefined);
    if (args.allowConfigEdits) {
      const readRequest = pulumi
        .all([pulumi.output(args.kubeconfig), mirrorsOutput, owner, scripts.metadata.name])
        .apply(([kubeconfig, mirrors, o, scriptsName]): ReadRequest => ({
          kubeconfig,
          context: args.context,
          namespace,
          name,
          timeoutSeconds: args.rolloutTimeoutSeconds ?? 300,
          pod: { ...podSettings, scriptsName },
          mirrors,
          plan: { ...nodeSettings, owner: o },
        }));
      const readCommand = localRolloutCommand(`${name}-read`, ["read", "forget"], readRequest, { parent: this, dependsOn: [scripts] });
      read = pulumi.unsecret(readCommand.stdout).apply((out) => (out ? (JSON.parse(out) as ReadResult) : undefined));
    }
    // What tells the pods of this configuration apart: the scripts' hash and the Secret's version (a new Secret, or a
    // new resourceVersion of a mutable one, when its content changes), and the nodes' Secret's version after a read;
    // never a hash of a Secret's content.
    const configHash = pulumi
      .all([pulumi.unsecret(plan.apply((p) => p.scriptsHash)), secret.metadata.uid, secret.metadata.resourceVersion, read])
      .apply(([scriptsHash, uid, version, r]) => sha256(`${scriptsHash}\n${uid}\n${version}${r ? `\n${r.secret}@${r.version}` : ""}`));
    const manifest = pulumi.all([configHash, scripts.metadata.name, secret.metadata.name, read]).apply(([hash, scriptsName, secretName, r]) =>
      daemonSetManifest({
        ...podSettings,
        name,
        namespace,
        scriptsName,
        secretName,
        nodesSecretName: r?.secret,
        configHash: hash,
        maxUnavailable: args.maxUnavailable ?? 1,
      }),
    );
    const daemonSet = new k8s.apps.v1.DaemonSet(
      name,
      {
        metadata: manifest.apply((m) => m.metadata as k8s.types.input.meta.v1.ObjectMeta),
        spec: manifest.apply((m) => m.spec as k8s.types.input.apps.v1.DaemonSetSpec),
      },
      child,
    );
    // Runs where Pulumi runs: create/update wait for the rollout of this config; delete rolls every node back first.
    const request = pulumi
      .all([pulumi.output(args.kubeconfig), configHash, daemonSet.metadata.name])
      .apply(([kubeconfig, hash, dsName]): RolloutRequest => ({
        kubeconfig,
        context: args.context,
        namespace,
        name: dsName,
        configHash: hash,
        timeoutSeconds: args.rolloutTimeoutSeconds ?? 300,
      }));
    const wait = localRolloutCommand(`${name}-rollout`, ["wait", "remove"], request, { parent: this, dependsOn: [daemonSet, scripts, secret] });
    this.rollout = wait.stdout.apply((out) => (out ? (JSON.parse(out) as RolloutResult) : { mode: "apply" as const, nodes: [] }));
    this.files = pulumi.unsecret(plan.apply((p) => p.files.map((f) => f.path)));
    this.reads = read.apply((r) => {
      for (const w of r?.warnings ?? []) pulumi.log.warn(w, this);
      return r?.nodes ?? [];
    });
    this.registerOutputs({ rollout: this.rollout, files: this.files, reads: this.reads });
  }
}
