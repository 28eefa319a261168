// The plugin's runtime entry (package.json "main"). Pulumi's plugin runner registers ts-node with the compiler options
// of the tsconfig.json in the directory the engine starts it in (a user's project, not this one), which fails on this
// package (ES module resolution); this replaces that .ts handler with one compiling by this package's own
// tsconfig.json (CommonJS), without type-checking at every start (npm run lint type-checks). The analyzer that infers
// the schema starts at index.ts, the TypeScript of "main".
const fs = require("fs");
const path = require("path");
const service = require("ts-node").create({ project: path.join(__dirname, "tsconfig.json"), transpileOnly: true });
require.extensions[".ts"] = (m, filename) => m._compile(service.compile(fs.readFileSync(filename, "utf8"), filename), filename);
require("./index.ts");
