/** Re-writes bench/RESULTS.md from a results JSON: `npx ts-node bench/report-md.ts bench/results/<stamp>.json`. */
import * as fs from "fs";
import * as path from "path";
import { writeResultsMd, type BenchResults } from "./report";

const file = process.argv[2];
if (!file) throw new Error("usage: ts-node bench/report-md.ts bench/results/<stamp>.json");
const res = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults;
const md = path.join(__dirname, "RESULTS.md");
fs.writeFileSync(md, writeResultsMd(res, path.relative(__dirname, path.resolve(file))));
process.stderr.write(`wrote ${md}\n`);
