// pulumi-resource-command 1.2.1 STAND-IN: a resource provider plugin speaking Pulumi's
// provider gRPC protocol (pulumirpc.ResourceProvider), built on the gRPC stubs shipped in
// @pulumi/pulumi. See tools/command-provider/README.md for what it reproduces.
//
// Why not @pulumi/pulumi/provider's `main(provider)`: that host never tells the engine it
// supports previews (so Create/Update cannot see `preview`), returns no detailed diff, and
// gives the provider no URN-scoped logging or timeouts. The real provider (pulumi-go-provider)
// does all of that, so this file serves the same RPCs itself.
import * as path from "path";
import { Ctx, Logger, Severity } from "./context";
import * as res from "./resources";
import { killAll, ProviderError } from "./ssh";
import { schema } from "./schema";
import { PropertyMap } from "./values";

export const VERSION = "1.2.1";

/* eslint-disable @typescript-eslint/no-var-requires */
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const req = (m: string) => require(require.resolve(m, { paths: [pulumiDir] }));
const grpc = req("@grpc/grpc-js");
const provrpc = req("@pulumi/pulumi/proto/provider_grpc_pb");
const provproto = req("@pulumi/pulumi/proto/provider_pb");
const plugproto = req("@pulumi/pulumi/proto/plugin_pb");
const enginerpc = req("@pulumi/pulumi/proto/engine_grpc_pb");
const engineproto = req("@pulumi/pulumi/proto/engine_pb");
const structproto = req("google-protobuf/google/protobuf/struct_pb");
const emptyproto = req("google-protobuf/google/protobuf/empty_pb");
/* eslint-enable @typescript-eslint/no-var-requires */

type Callback = (err: unknown, resp?: unknown) => void;
type Call = { request: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

const GRPC_OPTS = { "grpc.max_receive_message_length": 400 * 1024 * 1024, "grpc.max_send_message_length": 400 * 1024 * 1024 };

// ---- engine logging -----------------------------------------------------------------------

let engine: any; // eslint-disable-line @typescript-eslint/no-explicit-any
function engineLogger(urn: string): Logger {
  return {
    log(severity: Severity, message: string, ephemeral: boolean): Promise<void> {
      if (!engine) return Promise.resolve();
      const r = new engineproto.LogRequest();
      r.setSeverity({ debug: 0, info: 1, warning: 2, error: 3 }[severity]);
      r.setMessage(message);
      r.setUrn(urn);
      r.setEphemeral(ephemeral);
      r.setStreamid(0);
      return new Promise((resolve) => engine.log(r, () => resolve()));
    },
  };
}

// ---- cancellation: every live Ctx, canceled by the Cancel RPC -----------------------------

const live = new Set<Ctx>();
let canceled = false;
function newCtx(urn: string, timeoutSeconds: number): Ctx {
  const ctx = new Ctx(urn, engineLogger(urn), timeoutSeconds > 0 ? Date.now() + timeoutSeconds * 1000 : undefined);
  if (canceled) ctx.cancel();
  live.add(ctx);
  return ctx;
}

function toJS(s: any): PropertyMap { // eslint-disable-line @typescript-eslint/no-explicit-any
  return s ? (s.toJavaScript() as PropertyMap) : {};
}
function toStruct(m: PropertyMap): unknown {
  return structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(m)));
}

function grpcError(e: unknown): { code: number; details: string; message: string } {
  const msg = e instanceof Error ? e.message : String(e);
  if (!(e instanceof ProviderError)) process.stderr.write(`pulumi-resource-command (stand-in): ${e instanceof Error ? e.stack : msg}\n`);
  return { code: grpc.status.UNKNOWN, details: msg, message: msg };
}

function handler(fn: (request: any) => Promise<unknown>) { // eslint-disable-line @typescript-eslint/no-explicit-any
  return (call: Call, cb: Callback) => {
    fn(call.request).then((r) => cb(null, r), (e) => cb(grpcError(e)));
  };
}

const service = {
  getPluginInfo: handler(async () => {
    const r = new plugproto.PluginInfo();
    r.setVersion(VERSION);
    return r;
  }),
  getSchema: handler(async (q) => {
    if (q.getVersion() !== 0) throw new Error(`unsupported schema version ${q.getVersion()}`);
    const r = new provproto.GetSchemaResponse();
    r.setSchema(JSON.stringify(schema(VERSION)));
    return r;
  }),
  checkConfig: handler(async (q) => {
    const r = new provproto.CheckResponse();
    r.setInputs(q.getNews());
    return r;
  }),
  diffConfig: handler(async () => {
    const r = new provproto.DiffResponse();
    r.setChanges(provproto.DiffResponse.DiffChanges.DIFF_NONE);
    return r;
  }),
  configure: handler(async () => {
    const r = new provproto.ConfigureResponse();
    r.setAcceptsecrets(true);
    r.setSupportspreview(true);
    r.setAcceptresources(true);
    r.setAcceptoutputs(false);
    return r;
  }),
  cancel: handler(async () => {
    canceled = true;
    for (const c of live) c.cancel();
    return new emptyproto.Empty();
  }),
  check: handler(async (q) => {
    const { inputs, failures } = res.check(q.getUrn(), toJS(q.getNews()));
    const r = new provproto.CheckResponse();
    r.setInputs(toStruct(inputs));
    r.setFailuresList(failures.map((f) => {
      const cf = new provproto.CheckFailure();
      cf.setProperty(f.property);
      cf.setReason(f.reason);
      return cf;
    }));
    return r;
  }),
  diff: handler(async (q) => {
    const d = res.diff(q.getUrn(), toJS(q.getOlds()), toJS(q.getNews()), q.getIgnorechangesList());
    const r = new provproto.DiffResponse();
    r.setChanges(d.changes ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE);
    r.setReplacesList(d.replaces);
    r.setDiffsList(d.diffs);
    r.setHasdetaileddiff(true);
    const m = r.getDetaileddiffMap();
    for (const [k, kind] of d.detailed) {
      const pd = new provproto.PropertyDiff();
      pd.setKind(provproto.PropertyDiff.Kind[kind]);
      pd.setInputdiff(false);
      m.set(k, pd);
    }
    return r;
  }),
  create: handler(async (q) => {
    const ctx = newCtx(q.getUrn(), q.getTimeout());
    try {
      const { id, outs } = await res.create(ctx, q.getUrn(), toJS(q.getProperties()), q.getPreview());
      const r = new provproto.CreateResponse();
      r.setId(id);
      r.setProperties(toStruct(outs));
      return r;
    } finally {
      live.delete(ctx);
    }
  }),
  read: handler(async (q) => {
    // infer's default Read: hand back what the engine has.
    const r = new provproto.ReadResponse();
    r.setId(q.getId());
    r.setProperties(q.getProperties());
    r.setInputs(q.getInputs());
    return r;
  }),
  update: handler(async (q) => {
    const ctx = newCtx(q.getUrn(), q.getTimeout());
    try {
      const outs = await res.update(ctx, q.getUrn(), toJS(q.getOlds()), toJS(q.getNews()), q.getIgnorechangesList(), q.getPreview());
      const r = new provproto.UpdateResponse();
      r.setProperties(toStruct(outs));
      return r;
    } finally {
      live.delete(ctx);
    }
  }),
  delete: handler(async (q) => {
    const ctx = newCtx(q.getUrn(), q.getTimeout());
    try {
      await res.remove(ctx, q.getUrn(), toJS(q.getProperties()));
      return new emptyproto.Empty();
    } finally {
      live.delete(ctx);
    }
  }),
  invoke: handler(async (q) => {
    if (q.getTok() !== "command:local:run") {
      throw new ProviderError(`unknown function '${q.getTok()}': the pulumi-resource-command stand-in implements only command:local:run`);
    }
    const ctx = newCtx("", 0);
    try {
      const r = new provproto.InvokeResponse();
      r.setReturn(toStruct(await res.localRun(ctx, toJS(q.getArgs()))));
      return r;
    } finally {
      live.delete(ctx);
    }
  }),
};

function engineAddress(args: string[]): string | undefined {
  const clean: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--logtostderr" || a.startsWith("-v=") || a === "--logflow") continue;
    if (a === "--tracing") { i++; continue; }
    if (a.startsWith("--tracing=")) continue;
    clean.push(a);
  }
  return clean[0];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--version") || args.includes("-version")) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const addr = engineAddress(args);
  if (addr) engine = new enginerpc.EngineClient(addr, grpc.credentials.createInsecure(), GRPC_OPTS);

  const server = new grpc.Server(GRPC_OPTS);
  server.addService(provrpc.ResourceProviderService, service);
  const port: number = await new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err: Error | null, p: number) =>
      (err ? reject(err) : resolve(p))));
  process.stdout.write(`${port}\n`);

  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(0);
    });
  }
  process.on("exit", killAll);
}

main().catch((e) => {
  process.stderr.write(`pulumi-resource-command (stand-in): ${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
