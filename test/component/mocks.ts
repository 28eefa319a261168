/** Pulumi mocks that record every registered resource's inputs, for the component's unit tests. */
import * as pulumi from "@pulumi/pulumi";

export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** A real ed25519 public key line (test fixture; nothing holds its private half). */
export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJU3550rSCMuhoFs7z8/4H4mqypnXbJwxI5plrBg4J5x";
/** How the mock monitor hands an unknown (preview) value to `newResource`. */
export const isUnknown = (v: unknown): boolean => typeof v === "object" && v !== null && (v as Record<string, unknown>).__pulumiUnknown === true;

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** What a read of a containerd 1.6 node with no config.toml prints (the agent's output format). */
export const READ_STDOUT_CONTAINERD = [
  "RM-RUNTIME containerd",
  "RM-VERSION containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1",
  "RM-MAIN absent /etc/containerd/config.toml",
].join("\n");

/**
 * What the apply prints on a healthy node: every TOML file of the bundle read back as written. Built from the
 * command's heredocs and the stdin bundle, the same data the node agent writes.
 */
export function applyStdoutFor(inputs: Record<string, unknown>): string {
  const create = String(unwrapSecret(inputs.create)[0] ?? "");
  const stdin = String(unwrapSecret(inputs.stdin)[0] ?? "");
  const files = new Map<string, string>();
  const heredoc = /^cat > '([^']+)\.rm-new' <<'(RM_EOF_[0-9a-f_]+)'.*\n([\s\S]*?)^\2$/gm;
  for (const m of create.matchAll(heredoc)) files.set(m[1], m[3]);
  const payloads = new Map<string, string>();
  for (const m of stdin.matchAll(/^RM-FILE (\S+)\n([\s\S]*?)^RM-END \1$/gm))
    payloads.set(m[1], Buffer.from(m[2].replace(/\n/g, ""), "base64").toString("utf8"));
  for (const m of stdin.matchAll(/^RM-STDIN-FILE (\S+) \S+ (\S+)$/gm)) files.set(m[1], payloads.get(m[2]) ?? "");
  const main = /^RM-META main (\S+)$/m.exec(stdin);
  const mainSha = /^RM-META mainsha (\S+)$/m.exec(stdin);
  if (main && mainSha) files.set(main[1], payloads.get(mainSha[1]) ?? "");
  const out: string[] = [];
  for (const [path, content] of files) {
    if (/\.(toml|conf)$/.test(path)) out.push(`RM-READBACK ${path}`, Buffer.from(content).toString("base64"), "RM-END");
  }
  out.push("RM-DONE");
  return out.join("\n");
}

/** Installs mocks; command resources get `stdout` from `stdoutFor(name)`. */
export function installMocks(
  preview: boolean,
  stdoutFor: (name: string, inputs: Record<string, unknown>) => string | undefined = () => undefined,
): Recorded[] {
  const recorded: Recorded[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        // The local main-config marker prints its creation time (`date +%s`).
        const stdout = args.type === "command:local:Command" ? String(Math.floor(Date.now() / 1000)) : stdoutFor(args.name, args.inputs);
        return { id: `${args.name}-id`, state: { ...args.inputs, ...(stdout !== undefined ? { stdout, stderr: "" } : {}) } };
      },
      call: () => ({}),
    },
    "project",
    "stack",
    preview,
  );
  return recorded;
}

/** Unwraps a mock-serialised secret; returns [value, wasSecret]. */
export function unwrapSecret(v: unknown): [unknown, boolean] {
  if (typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] !== undefined) {
    return [(v as Record<string, unknown>).value, true];
  }
  return [v, false];
}

/** Resolves an Output's value, or `undefined` when unknown (preview). */
export async function valueOf<T>(output: pulumi.Output<T>): Promise<T | undefined> {
  const known = await (output as unknown as { isKnown: Promise<boolean> }).isKnown;
  if (!known) return undefined;
  return (output as unknown as { promise(): Promise<T> }).promise();
}

/** Waits until the engine mock has seen every registration started so far. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 50));
}
