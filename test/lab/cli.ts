/**
 * Lab CLI.
 *   npx ts-node test/lab/cli.ts start [--nodes N] [--dir DIR]   start, print the JSON description, exit (lab keeps running)
 *   npx ts-node test/lab/cli.ts stop --dir DIR                   stop everything recorded in DIR and remove it
 *   npx ts-node test/lab/cli.ts status --dir DIR                 list the lab's live processes
 */
import * as fs from "fs";
import * as path from "path";
import { startLab } from "./lab";
import { labProcesses, stopLabDirSync } from "./proc";
import { DESCRIPTION_FILE } from "./lab";

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(name + "="));
  return eq ? eq.slice(name.length + 1) : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const dir = arg(rest, "--dir");
  if (cmd === "start") {
    const nodes = parseInt(arg(rest, "--nodes") ?? "3", 10);
    if (!Number.isFinite(nodes) || nodes < 1) throw new Error("--nodes must be a positive number");
    const lab = await startLab({ nodes, dir, stopOnExit: false, log: (s) => process.stderr.write(s + "\n") });
    const d = lab.describe();
    process.stderr.write(`lab started in ${d.startupMs} ms; stop it with: npx ts-node test/lab/cli.ts stop --dir ${d.dir}\n`);
    process.stdout.write(JSON.stringify(d, null, 2) + "\n");
    return 0;
  }
  if (cmd === "stop") {
    if (!dir) throw new Error("stop needs --dir DIR");
    const abs = fs.realpathSync(dir);
    if (!fs.existsSync(path.join(abs, DESCRIPTION_FILE)) && !fs.existsSync(path.join(abs, "pids"))) {
      throw new Error(`${abs} does not look like a lab dir (no ${DESCRIPTION_FILE}, no pids/)`);
    }
    const r = stopLabDirSync(abs);
    process.stdout.write(JSON.stringify(r) + "\n");
    return r.survivors.length === 0 && r.mounts.length === 0 ? 0 : 1;
  }
  if (cmd === "status") {
    if (!dir) throw new Error("status needs --dir DIR");
    const abs = fs.realpathSync(dir);
    const pids = labProcesses(abs);
    for (const p of pids) {
      let c = "";
      try {
        c = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      } catch {
        /* gone */
      }
      process.stdout.write(`${p} ${c}\n`);
    }
    return 0;
  }
  process.stderr.write("usage: cli.ts start [--nodes N] [--dir DIR] | stop --dir DIR | status --dir DIR\n");
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
