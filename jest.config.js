/** @type {import('jest').Config} */
const common = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false } }] },
};
module.exports = {
  projects: [
    {
      ...common,
      displayName: "unit",
      testMatch: ["<rootDir>/test/{model,render,node,component,convert,cli,kubernetes,in-cluster,package}/**/*.test.ts"],
    },
    // Integration and end-to-end tests start real processes (sshd, containerd, registries): one file at a time.
    { ...common, displayName: "lab", testMatch: ["<rootDir>/test/{lab,integration,engine,e2e}/**/*.test.ts"] },
  ],
};
