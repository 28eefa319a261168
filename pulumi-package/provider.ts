/**
 * The Pulumi package of the RegistryMirrors component: its schema, inferred from the TypeScript types by Pulumi's
 * own analyzer, and the provider that constructs the component for programs in other languages.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import * as pulumi from "@pulumi/pulumi";
import * as provider from "@pulumi/pulumi/provider";
import { Analyzer } from "@pulumi/pulumi/provider/experimental/analyzer";
import { generateSchema } from "@pulumi/pulumi/provider/experimental/schema";
import { RegistryMirrors } from "../src/component/registry-mirrors";
import type { RegistryMirrorsArgs } from "../src/component/args";
import { RegistryMirrorsInCluster, type RegistryMirrorsInClusterArgs } from "../src/in-cluster/component";
import { RegistryMirrorsFromCluster, type RegistryMirrorsFromClusterArgs } from "../src/kubernetes/from-cluster";

/** The package's name: the first part of the component's type token `registry-mirrors:index:RegistryMirrors`. */
export const PACKAGE_NAME = "registry-mirrors";
/**
 * The components of the package: over SSH (the nodes given, or the nodes a cluster lists), and from inside the
 * cluster (a DaemonSet) for nodes without SSH.
 */
export const COMPONENTS = ["RegistryMirrors", "RegistryMirrorsFromCluster", "RegistryMirrorsInCluster"] as const;
/** This directory: its package.json (name, version, description) and tsconfig.json are what the analyzer reads. */
export const PACKAGE_DIR = __dirname;

type Json = { [key: string]: unknown };

/**
 * The package schema as Pulumi infers it from the component's TypeScript types, with two things the analyzer of
 * @pulumi/pulumi 3.248 leaves out put back: the description of every object type (the JSDoc text of its interface;
 * it writes those of enums and properties only; an enum's is its own comment, not the file header before it), and `integer` for the numbers whose description says
 * "An integer." (TypeScript has one number type).
 */
export function inferSchema(dir: string = PACKAGE_DIR): Json {
  const packageJSON = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const analyzer = new Analyzer(dir, PACKAGE_NAME, packageJSON, new Set(COMPONENTS));
  const { components, typeDefinitions, dependencies } = analyzer.analyze();
  const schema = generateSchema(
    PACKAGE_NAME,
    packageJSON.version,
    packageJSON.description,
    components,
    typeDefinitions,
    dependencies,
  ) as unknown as Json;
  const types = schema.types as Record<string, Json>;
  const docs = typeDocs((analyzer as unknown as { program: ts.Program }).program);
  for (const [name, def] of Object.entries(typeDefinitions)) {
    const t = types[`${PACKAGE_NAME}:index:${name}`];
    const description = docs.get(name) ?? def.description;
    if (t && description) t.description = description;
  }
  const integers = (props: unknown) => {
    for (const p of Object.values((props ?? {}) as Record<string, Json>)) {
      if (p.type === "number" && typeof p.description === "string" && /(^|\s)An integer\./.test(p.description)) p.type = "integer";
    }
  };
  for (const t of Object.values(types)) integers(t.properties);
  for (const r of Object.values(schema.resources as Record<string, Json>)) {
    integers(r.inputProperties);
    integers(r.properties);
  }
  return schema;
}

/**
 * The JSDoc text of every interface and `as const` enum of the program outside node_modules, by name: its own
 * comment (the last one before it; the first statement of a file also gets the file's header). Where two share a
 * name (the component's `Mirror` input and the spec's `Mirror`), the component's (src/component/) wins: the args
 * are declared there.
 */
function typeDocs(program: ts.Program): Map<string, string> {
  const docs = new Map<string, string>();
  const files = program.getSourceFiles().filter((f) => !f.fileName.includes("/node_modules/"));
  const own = (f: ts.SourceFile) => f.fileName.includes("/src/component/");
  const text = (node: ts.Node) => {
    const jsDoc = (node as unknown as { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
    return jsDoc.length > 0 ? (ts.getTextOfJSDocComment(jsDoc[jsDoc.length - 1].comment) ?? "") : "";
  };
  for (const file of [...files.filter((f) => !own(f)), ...files.filter(own)]) {
    file.forEachChild((node) => {
      if (ts.isInterfaceDeclaration(node) && text(node)) docs.set(node.name.text, text(node));
      if (ts.isVariableStatement(node) && text(node))
        for (const d of node.declarationList.declarations) if (ts.isIdentifier(d.name)) docs.set(d.name.text, text(node));
    });
  }
  return docs;
}

/** Serves the inferred schema and constructs the components for the engine. */
export class RegistryMirrorsProvider implements provider.Provider {
  readonly version: string;
  private inferred?: string;

  constructor(private readonly dir: string = PACKAGE_DIR) {
    this.version = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version;
  }

  async getSchema(): Promise<string> {
    this.inferred ??= JSON.stringify(inferSchema(this.dir));
    return this.inferred;
  }

  async construct(name: string, type: string, inputs: pulumi.Inputs, options: pulumi.ComponentResourceOptions): Promise<provider.ConstructResult> {
    switch (type) {
      case `${PACKAGE_NAME}:index:RegistryMirrors`: {
        const component = new RegistryMirrors(name, inputs as unknown as RegistryMirrorsArgs, options);
        return { urn: component.urn, state: { reports: component.reports } };
      }
      case `${PACKAGE_NAME}:index:RegistryMirrorsFromCluster`: {
        const component = new RegistryMirrorsFromCluster(name, inputs as unknown as RegistryMirrorsFromClusterArgs, options);
        return { urn: component.urn, state: { reports: component.reports, clusterNodes: component.clusterNodes } };
      }
      case `${PACKAGE_NAME}:index:RegistryMirrorsInCluster`: {
        const component = new RegistryMirrorsInCluster(name, inputs as unknown as RegistryMirrorsInClusterArgs, options);
        return { urn: component.urn, state: { rollout: component.rollout, files: component.files, reads: component.reads } };
      }
      default:
        throw new Error(`unknown resource type ${type}: this package has ${COMPONENTS.map((c) => `${PACKAGE_NAME}:index:${c}`).join(", ")}`);
    }
  }
}
