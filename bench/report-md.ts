/**
 * Re-writes bench/RESULTS.md from a results JSON, with the run's notes if `<stamp>.notes.md` exists beside it:
 * `npx ts-node bench/report-md.ts bench/results/<stamp>.json`.
 */
import * as fs from "fs";
import * as path from "path";
import { writeResultsMd, type BenchResults } from "./report";

const file = process.argv[2];
if (!file) throw new Error("usage: ts-node bench/report-md.ts bench/results/<stamp>.json");
const res = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults;
const md = path.join(__dirname, "RESULTS.md");
const notes = file.replace(/\.json$/, ".notes.md");
const extra = fs.existsSync(notes) ? fs.readFileSync(notes, "utf8").trim() : "";
fs.writeFileSync(md, writeResultsMd(res, path.relative(__dirname, path.resolve(file)), extra));
process.stderr.write(`wrote ${md}\n`);
