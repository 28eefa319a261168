/**
 * The Pulumi package's schema as Pulumi's own analyzer infers it from the component's TypeScript types
 * (pulumi-package/provider.ts), against the committed golden file that PRs review: any change of the args or the
 * reports shows up here as a schema diff. Plus what the schema must say for the SDKs of every language to read well.
 * Regenerate after an intended change with `UPDATE_GOLDEN=1 npx jest test/package/schema`.
 */
import { existsSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { inferSchema } from "../../pulumi-package/provider";

jest.setTimeout(180_000);

export const GOLDEN_SCHEMA = join(__dirname, "schema.golden.json");

type Prop = { type?: string; $ref?: string; description?: string; items?: Prop; additionalProperties?: Prop; plain?: boolean };
type Def = { type: string; description?: string; properties?: Record<string, Prop>; enum?: { name: string; value: string }[]; required?: string[] };
interface Schema {
  name: string;
  version: string;
  types: Record<string, Def>;
  resources: Record<
    string,
    { description?: string; inputProperties: Record<string, Prop>; properties: Record<string, Prop>; requiredInputs: string[] }
  >;
  dependencies?: unknown[];
}

let schema: Schema;
beforeAll(() => {
  schema = inferSchema() as unknown as Schema;
});

function allProps(): [string, Prop][] {
  const out: [string, Prop][] = [];
  for (const [name, t] of Object.entries(schema.types)) for (const [k, p] of Object.entries(t.properties ?? {})) out.push([`${name}.${k}`, p]);
  for (const [name, r] of Object.entries(schema.resources)) {
    for (const [k, p] of Object.entries(r.inputProperties)) out.push([`${name} input ${k}`, p]);
    for (const [k, p] of Object.entries(r.properties)) out.push([`${name} output ${k}`, p]);
  }
  return out;
}

it("matches the golden schema", () => {
  const text = JSON.stringify(schema, null, 2) + "\n";
  if (process.env.UPDATE_GOLDEN || !existsSync(GOLDEN_SCHEMA)) writeFileSync(GOLDEN_SCHEMA, text);
  expect(text).toBe(readFileSync(GOLDEN_SCHEMA, "utf8"));
});

it("has the three components (over SSH, over SSH on the nodes a cluster lists, in-cluster), with the package.json version, and needs no other package", () => {
  expect(Object.keys(schema.resources).sort()).toEqual([
    "registry-mirrors:index:RegistryMirrors",
    "registry-mirrors:index:RegistryMirrorsFromCluster",
    "registry-mirrors:index:RegistryMirrorsInCluster",
  ]);
  expect(schema.name).toBe("registry-mirrors");
  expect(schema.version).toBe(JSON.parse(readFileSync(join(__dirname, "../../pulumi-package/package.json"), "utf8")).version);
  // No resource reference: generating or using an SDK needs no other provider plugin (kubernetes, command).
  expect(schema.dependencies ?? []).toEqual([]);
});

it("describes every type and every property (JSDoc text, not [object Object] of a {@link})", () => {
  const missing = [
    ...Object.entries(schema.types)
      .filter(([, t]) => !t.description)
      .map(([n]) => n),
    ...allProps()
      .filter(([, p]) => !p.description)
      .map(([n]) => n),
  ];
  expect(missing).toEqual([]);
  expect(JSON.stringify(schema)).not.toContain("[object Object]");
  expect(schema.resources["registry-mirrors:index:RegistryMirrors"].description).toMatch(/^Configures registry mirrors on every node over SSH/);
  expect(schema.resources["registry-mirrors:index:RegistryMirrorsInCluster"].description).toMatch(
    /^Registry mirrors on every node of a cluster, from a DaemonSet/,
  );
});

it("names no type ...Args (Go and Python add Args to input types) and keeps the enums callers pass as strings", () => {
  expect(Object.keys(schema.types).filter((t) => /Args$/.test(t))).toEqual([]);
  const values = (t: string) => schema.types[`registry-mirrors:index:${t}`].enum!.map((e) => e.value).sort();
  expect(values("Capability")).toEqual(["pull", "push", "resolve"]);
  expect(values("NodeRuntime")).toEqual(expect.arrayContaining(["auto", "containerd", "cri-o", "docker"]));
  expect(values("ProbeMode")).toEqual(["error", "off", "warn"]);
  expect(values("LegacyMode")).toEqual(["migrate", "refuse", "write"]);
  expect(values("VerifyMode")).toEqual(["always", "onChange"]);
});

it("says which numbers are integers", () => {
  const numbers = allProps()
    .filter(([, p]) => p.type === "number" || p.type === "integer")
    .map(([n, p]) => `${n}: ${p.type}`)
    .sort();
  expect(numbers).toEqual(
    [
      "registry-mirrors:index:ClusterNodeSsh.port: integer",
      "registry-mirrors:index:ClusterNodesLogin.dialErrorLimit: integer",
      "registry-mirrors:index:ClusterNodesLogin.perDialTimeout: integer",
      "registry-mirrors:index:ClusterNodesLogin.port: integer",
      "registry-mirrors:index:RegistryMirrorsFromCluster input healthTimeoutSeconds: integer",
      "registry-mirrors:index:Connection.dialErrorLimit: integer",
      "registry-mirrors:index:Connection.perDialTimeout: integer",
      "registry-mirrors:index:Connection.port: integer",
      "registry-mirrors:index:ProbeReport.latencyMs: integer",
      "registry-mirrors:index:ProxyConnection.dialErrorLimit: integer",
      "registry-mirrors:index:ProxyConnection.perDialTimeout: integer",
      "registry-mirrors:index:ProxyConnection.port: integer",
      "registry-mirrors:index:Rollout.maxParallelRestarts: integer",
      "registry-mirrors:index:RegistryMirrors input healthTimeoutSeconds: integer",
      "registry-mirrors:index:RegistryMirrorsInCluster input maxUnavailable: integer",
      "registry-mirrors:index:RegistryMirrorsInCluster input rolloutTimeoutSeconds: integer",
    ].sort(),
  );
});

it("takes nodes as a list of node Inputs (Go generates MirrorNodeArray) and mirrors as an Input list", () => {
  const inputs = schema.resources["registry-mirrors:index:RegistryMirrors"].inputProperties;
  expect(inputs.nodes).toMatchObject({ type: "array", plain: true, items: { $ref: "#/types/registry-mirrors:index:MirrorNode" } });
  expect(inputs.nodes.items!.plain).toBeUndefined();
  expect(inputs.mirrors.plain).toBeUndefined();
  expect(schema.resources["registry-mirrors:index:RegistryMirrors"].requiredInputs).toEqual(["mirrors", "nodes"]);
  // A connection may come from other resources or secrets.
  expect(schema.types["registry-mirrors:index:MirrorNode"].properties!.connection.plain).toBeUndefined();
});

it("gives the in-cluster mode the same mirrors, probe modes and node paths as the SSH component, and its rollout", () => {
  const inCluster = schema.resources["registry-mirrors:index:RegistryMirrorsInCluster"];
  const ssh = schema.resources["registry-mirrors:index:RegistryMirrors"];
  expect({ ...inCluster.inputProperties.mirrors, description: "" }).toEqual({ ...ssh.inputProperties.mirrors, description: "" });
  expect(inCluster.inputProperties.probe.$ref).toBe("#/types/registry-mirrors:index:ProbeMode");
  expect(inCluster.inputProperties.paths.$ref).toBe("#/types/registry-mirrors:index:NodePaths");
  expect(inCluster.requiredInputs).toEqual(["kubeconfig", "mirrors"]);
  // Defaults are in the text: the analyzer drops JSDoc tags such as @default.
  expect(inCluster.inputProperties.namespace.description).toMatch(/Default: `kube-system`/);
  expect(inCluster.properties.rollout.$ref).toBe("#/types/registry-mirrors:index:RolloutResult");
  expect(schema.types["registry-mirrors:index:RolloutMode"].enum!.map((e) => e.value).sort()).toEqual(["apply", "remove"]);
});

it("gives the nodes from the cluster the SSH component's mirrors and checks, a login for every node and a host key per Node name", () => {
  const fromCluster = schema.resources["registry-mirrors:index:RegistryMirrorsFromCluster"];
  const ssh = schema.resources["registry-mirrors:index:RegistryMirrors"];
  expect(fromCluster.inputProperties.mirrors).toEqual(ssh.inputProperties.mirrors);
  expect(fromCluster.inputProperties.verify.$ref).toBe(ssh.inputProperties.verify.$ref);
  expect(fromCluster.requiredInputs).toEqual(["kubeconfig", "login", "mirrors", "nodes"]);
  expect(fromCluster.inputProperties.nodes).toMatchObject({
    type: "object",
    additionalProperties: { $ref: "#/types/registry-mirrors:index:ClusterNodeSsh" },
  });
  // Go generates an input type only for Input values (not for a plain map of plain objects).
  expect(fromCluster.inputProperties.nodes.additionalProperties!.plain).toBeUndefined();
  // The login and a node's host key may be secrets or come from other resources.
  expect(fromCluster.inputProperties.login.plain).toBeUndefined();
  expect(schema.types["registry-mirrors:index:ClusterNodeSsh"].properties!.hostKey.plain).toBeUndefined();
  expect(fromCluster.properties.reports.additionalProperties).toEqual(ssh.properties.reports.additionalProperties);
});
