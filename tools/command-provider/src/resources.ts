// The resource controllers: what pulumi-go-provider's `infer` does around the real
// provider's Create/Update/Delete (infer/resource.go) plus the bodies of
// remote/commandController.go and local/commandController.go.
import * as crypto from "crypto";
import { Ctx } from "./context";
import { runLocal } from "./local";
import { Connection, ConnectionBase, ProviderError, RunResult, runRemote } from "./ssh";
import {
  asReplace, clean, containsUnknowns, deepEquals, detailedDiff, DiffKind, diffMaps, isPlainObject, isSecret,
  isUnknown, mapInside, PropertyMap, reveal, secret, UNKNOWN, Value,
} from "./values";

export interface CheckFailure { property: string; reason: string }
export interface DiffResult {
  changes: boolean;
  detailed: Map<string, DiffKind>;
  replaces: string[];
  diffs: string[];
}

type Kind = "string" | "number" | "boolean" | "array" | "object" | "map<string>" | "array<string>";

interface Controller {
  token: string;
  inputs: Record<string, Kind>;
  required: string[];
  /** fields whose change means a replacement (provider:"replaceOnChanges") */
  replaceOnChanges: string[];
  /** outputs marked secret by the provider (provider:"secret") */
  alwaysSecret: string[];
  defaults(m: PropertyMap): void;
  extraCheck(m: PropertyMap, failures: CheckFailure[]): void;
  run(ctx: Ctx, cmd: string, state: PropertyMap): Promise<RunResult>;
}

function typeOk(kind: Kind, v: Value): boolean {
  if (isUnknown(v) || v === null) return true;
  if (isSecret(v)) return typeOk(kind, v.value as Value);
  switch (kind) {
    case "string": return typeof v === "string";
    case "number": return typeof v === "number";
    case "boolean": return typeof v === "boolean";
    case "array": return Array.isArray(v);
    case "array<string>": return Array.isArray(v) && v.every((e) => typeOk("string", e));
    case "object": return isPlainObject(v);
    case "map<string>": return isPlainObject(v) && Object.values(v).every((e) => typeOk("string", e));
  }
}

function str(v: Value | undefined): string | undefined {
  const r = reveal(v);
  return typeof r === "string" ? r : undefined;
}
function logFlags(state: PropertyMap): { logStdout: boolean; logStderr: boolean } {
  const l = str(state.logging);
  return {
    logStdout: l === undefined || l === "stdout" || l === "stdoutAndStderr",
    logStderr: l === undefined || l === "stderr" || l === "stdoutAndStderr",
  };
}
function addPrevious(state: PropertyMap): boolean {
  const v = reveal(state.addPreviousOutputInEnv);
  return v === undefined || v === null || v === true;
}
function strMap(v: Value | undefined): Record<string, string> | undefined {
  const r = reveal(v);
  if (!isPlainObject(r)) return undefined;
  const o: Record<string, string> = {};
  for (const [k, e] of Object.entries(r)) if (typeof e === "string") o[k] = e;
  return o;
}

const CONNECTION_FIELDS: Record<string, Kind> = {
  host: "string", port: "number", user: "string", password: "string", privateKey: "string",
  privateKeyPassword: "string", agentSocketPath: "string", dialErrorLimit: "number", perDialTimeout: "number",
  hostKey: "string",
};

function connectionDefaults(c: Value): Value {
  return mapInside(c, (inner) => {
    if (!isPlainObject(inner)) return inner;
    const o: PropertyMap = { ...inner };
    o.user ??= "root";
    o.port ??= 22;
    o.dialErrorLimit ??= 10;
    o.perDialTimeout ??= 15;
    return o;
  });
}

function checkConnection(prefix: string, c: Value, failures: CheckFailure[], allowProxy: boolean): void {
  const inner = isSecret(c) ? (c.value as Value) : c;
  if (isUnknown(inner)) return;
  if (!isPlainObject(inner)) {
    failures.push({ property: prefix, reason: `${prefix}: expected an object` });
    return;
  }
  if (inner.host === undefined || inner.host === null) {
    failures.push({ property: `${prefix}.host`, reason: `missing required property '${prefix}.host'` });
  }
  for (const [k, v] of Object.entries(inner)) {
    if (k === "proxy" && allowProxy) {
      if (v !== null) checkConnection(`${prefix}.proxy`, v, failures, false);
    } else if (!(k in CONNECTION_FIELDS)) {
      // infer ignores unknown fields
    } else if (!typeOk(CONNECTION_FIELDS[k], v)) {
      failures.push({ property: `${prefix}.${k}`, reason: `${prefix}.${k}: expected a ${CONNECTION_FIELDS[k]}` });
    }
  }
}

function toConnection(v: Value | undefined): Connection {
  const c = reveal(v) as PropertyMap;
  const base = (o: PropertyMap): ConnectionBase => ({
    host: String(o.host),
    port: typeof o.port === "number" ? o.port : 22,
    user: typeof o.user === "string" ? o.user : "root",
    password: typeof o.password === "string" ? o.password : undefined,
    privateKey: typeof o.privateKey === "string" ? o.privateKey : undefined,
    privateKeyPassword: typeof o.privateKeyPassword === "string" ? o.privateKeyPassword : undefined,
    agentSocketPath: typeof o.agentSocketPath === "string" ? o.agentSocketPath : undefined,
    dialErrorLimit: typeof o.dialErrorLimit === "number" ? Math.trunc(o.dialErrorLimit) : 10,
    perDialTimeout: typeof o.perDialTimeout === "number" ? Math.trunc(o.perDialTimeout) : 15,
    hostKey: typeof o.hostKey === "string" ? o.hostKey : undefined,
  });
  const conn: Connection = base(c);
  if (isPlainObject(c.proxy)) conn.proxy = base(c.proxy);
  return conn;
}

const remoteCommand: Controller = {
  token: "command:remote:Command",
  inputs: {
    connection: "object", create: "string", update: "string", delete: "string", triggers: "array",
    environment: "map<string>", stdin: "string", logging: "string", addPreviousOutputInEnv: "boolean",
  },
  required: ["connection"],
  replaceOnChanges: ["triggers"],
  alwaysSecret: ["connection"],
  defaults(m) {
    m.addPreviousOutputInEnv ??= true;
    if (m.connection !== undefined && m.connection !== null) {
      m.connection = connectionDefaults(m.connection);
      const inner = isSecret(m.connection) ? (m.connection.value as Value) : m.connection;
      if (isPlainObject(inner) && inner.proxy !== undefined && inner.proxy !== null) {
        inner.proxy = connectionDefaults(inner.proxy);
      }
    }
  },
  extraCheck(m, failures) {
    if (m.connection !== undefined && m.connection !== null) checkConnection("connection", m.connection, failures, true);
  },
  run(ctx, cmd, state) {
    return runRemote(ctx, {
      connection: toConnection(state.connection),
      command: cmd,
      stdin: str(state.stdin),
      environment: strMap(state.environment),
      previousStdout: str(state.stdout),
      previousStderr: str(state.stderr),
      addPreviousOutputInEnv: addPrevious(state),
      ...logFlags(state),
    });
  },
};

const localCommand: Controller = {
  token: "command:local:Command",
  inputs: {
    create: "string", update: "string", delete: "string", triggers: "array", stdin: "string", logging: "string",
    interpreter: "array<string>", dir: "string", environment: "map<string>", assetPaths: "array<string>",
    archivePaths: "array<string>", addPreviousOutputInEnv: "boolean",
  },
  required: [],
  replaceOnChanges: ["triggers"],
  alwaysSecret: [],
  defaults(m) {
    m.addPreviousOutputInEnv ??= true;
  },
  extraCheck(m, failures) {
    for (const k of ["assetPaths", "archivePaths"]) {
      const v = reveal(m[k]);
      if (Array.isArray(v) && v.length > 0) {
        failures.push({ property: k, reason: `${k} is not supported by the pulumi-resource-command stand-in (tools/command-provider)` });
      }
    }
  },
  run(ctx, cmd, state) {
    const interp = reveal(state.interpreter);
    return runLocal(ctx, {
      command: cmd,
      interpreter: Array.isArray(interp) ? interp.map(String) : undefined,
      dir: str(state.dir),
      environment: strMap(state.environment),
      stdin: str(state.stdin),
      previousStdout: str(state.stdout),
      previousStderr: str(state.stderr),
      addPreviousOutputInEnv: addPrevious(state),
      ...logFlags(state),
    });
  },
};

export const CONTROLLERS: Record<string, Controller> = {
  [remoteCommand.token]: remoteCommand,
  [localCommand.token]: localCommand,
};

export function typeOfUrn(urn: string): string {
  const parts = urn.split("::");
  const qualified = parts[2] ?? "";
  return qualified.split("$").pop()!;
}
export function nameOfUrn(urn: string): string {
  const parts = urn.split("::");
  return parts.slice(3).join("::");
}

export function controllerFor(urn: string): Controller {
  const t = typeOfUrn(urn);
  const c = CONTROLLERS[t];
  if (!c) {
    throw new ProviderError(`unknown resource type '${t}': the pulumi-resource-command stand-in (tools/command-provider) ` +
      `implements only ${Object.keys(CONTROLLERS).join(", ")} and the command:local:run invoke`);
  }
  return c;
}

// ---- infer's Check / Diff / Create / Update / Delete / Read -------------------------------

export function check(urn: string, news: PropertyMap): { inputs: PropertyMap; failures: CheckFailure[] } {
  const c = controllerFor(urn);
  const inputs: PropertyMap = {};
  for (const k of Object.keys(c.inputs)) {
    if (news[k] !== undefined && news[k] !== null) inputs[k] = news[k];
  }
  const failures: CheckFailure[] = [];
  for (const k of c.required) {
    if (inputs[k] === undefined) failures.push({ property: k, reason: `missing required property '${k}'` });
  }
  for (const [k, kind] of Object.entries(c.inputs)) {
    if (inputs[k] !== undefined && !typeOk(kind, inputs[k])) {
      failures.push({ property: k, reason: `${k}: expected a ${kind}` });
    }
  }
  if (failures.length > 0) return { inputs: news, failures };
  c.defaults(inputs);
  c.extraCheck(inputs, failures);
  return { inputs, failures };
}

export function diff(urn: string, olds: PropertyMap, news: PropertyMap, ignoreChanges: string[]): DiffResult {
  const c = controllerFor(urn);
  news = { ...news };
  for (const k of ignoreChanges) news[k] = olds[k] ?? null;
  const oldInputs: PropertyMap = {};
  for (const k of Object.keys(c.inputs)) oldInputs[k] = olds[k] ?? null;
  const detailed = detailedDiff(diffMaps(oldInputs, news));
  const replaces: string[] = [];
  for (const [k, kind] of detailed) {
    if (c.replaceOnChanges.includes(k)) {
      detailed.set(k, asReplace(kind));
      replaces.push(k);
    }
  }
  return { changes: detailed.size > 0, detailed, replaces, diffs: [...detailed.keys()] };
}

function uniqueId(name: string): string {
  return name + crypto.randomBytes(4).toString("hex");
}

function markOutputs(c: Controller, m: PropertyMap): PropertyMap {
  for (const k of c.alwaysSecret) if (m[k] !== undefined && m[k] !== null) m[k] = secret(m[k]);
  return m;
}

export async function create(ctx: Ctx, urn: string, props: PropertyMap, preview: boolean): Promise<{ id: string; outs: PropertyMap }> {
  const c = controllerFor(urn);
  const id = uniqueId(nameOfUrn(urn));
  const state: PropertyMap = { ...props };
  if (preview) {
    // infer marks every output that does not mirror an input computed during a create preview.
    return { id, outs: markOutputs(c, { ...state, stdout: UNKNOWN, stderr: UNKNOWN }) };
  }
  state.stdout = "";
  state.stderr = "";
  const cmd = str(props.create);
  if (cmd !== undefined) {
    const r = await c.run(ctx, cmd, state);
    state.stdout = r.stdout;
    state.stderr = r.stderr;
  }
  return { id, outs: markOutputs(c, clean(state) as PropertyMap) };
}

export async function update(
  ctx: Ctx, urn: string, olds: PropertyMap, news: PropertyMap, ignoreChanges: string[], preview: boolean,
): Promise<PropertyMap> {
  const c = controllerFor(urn);
  news = { ...news };
  for (const k of ignoreChanges) news[k] = olds[k] ?? null;
  // state := CommandOutputs{CommandInputs: news, BaseOutputs: olds.BaseOutputs}
  const state: PropertyMap = { ...news, stdout: str(olds.stdout) ?? "", stderr: str(olds.stderr) ?? "" };
  if (preview) {
    // markComputed(isCreate=false): outputs depend on every input; if one is unknown or changed, they are unknown.
    const changed = Object.entries(news).some(([k, v]) => containsUnknowns(v) || (k in olds && !deepEquals(v, olds[k])));
    if (changed) {
      state.stdout = UNKNOWN;
      state.stderr = UNKNOWN;
    }
    return markOutputs(c, state);
  }
  const cmd = str(news.update) ?? str(news.create);
  if (cmd !== undefined) {
    const r = await c.run(ctx, cmd, state);
    state.stdout = r.stdout;
    state.stderr = r.stderr;
  }
  return markOutputs(c, clean(state) as PropertyMap);
}

export async function remove(ctx: Ctx, urn: string, props: PropertyMap): Promise<void> {
  const c = controllerFor(urn);
  const cmd = str(props.delete);
  if (cmd === undefined) return;
  await c.run(ctx, cmd, props);
}

// ---- command:local:run (invoke) --------------------------------------------------------------

export async function localRun(ctx: Ctx, args: PropertyMap): Promise<PropertyMap> {
  const command = str(args.command);
  if (command === undefined) throw new ProviderError("missing required property 'command'");
  const out: PropertyMap = { ...args, addPreviousOutputInEnv: args.addPreviousOutputInEnv ?? true };
  const r = await localCommand.run(ctx, command, { ...out, stdout: null, stderr: null });
  out.stdout = r.stdout;
  out.stderr = r.stderr;
  return clean(out) as PropertyMap;
}
