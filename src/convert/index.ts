/**
 * Converters between our spec (`Mirror[]`) and the registry-mirror formats of neighbouring tools. Pure functions:
 * text (or a map of files) in, spec and notes out; spec in, document and files out. Every source field without an
 * equivalent becomes a note; everything our spec holds that a target cannot express is an error naming our field.
 */
import type { Mirror } from "../model/types";
import { importAnthos } from "./anthos";
import { importCertsD, type CertsDOptions } from "./certs-d";
import { importContainersRegistries } from "./containers-registries";
import { exportGardener, importGardener } from "./gardener";
import { exportK3s, importK3s, type K3sExportOptions, type K3sImportOptions } from "./k3s";
import { exportTalos, importTalos } from "./talos";
import type { ExportResult, ImportOptions, ImportResult } from "./types";

export type { ConversionNote, ExportedFile, ExportResult, ImportOptions, ImportResult } from "./types";
export { importAnthos, ANTHOS_DEFAULT_HOST } from "./anthos";
export { importCertsD, type CertsDOptions } from "./certs-d";
export { importContainersRegistries } from "./containers-registries";
export { exportGardener, gardenerProblems, importGardener, GARDENER_MIRROR_API_VERSION } from "./gardener";
export { exportK3s, importK3s, type K3sExportOptions, type K3sImportOptions } from "./k3s";
export { exportTalos, importTalos } from "./talos";

/** What an importer reads: one file's text, or a directory as relative path → content. */
export type ImportSource =
  { readonly kind: "text"; readonly text: string } | { readonly kind: "dir"; readonly files: Readonly<Record<string, string>> };

/** Options every importer understands (each takes the ones that apply to it). */
export type AnyImportOptions = ImportOptions & K3sImportOptions & CertsDOptions;

/** One import format: its name on the command line, what it reads, and the function. */
export interface ImportFormat {
  /** What the format is, for `--help`. */
  readonly description: string;
  /** Whether it reads a file, a directory, or either. */
  readonly reads: "file" | "dir" | "file-or-dir";
  /** The conversion. */
  readonly run: (source: ImportSource, options: AnyImportOptions) => ImportResult;
}

/** Text of a single-file source, or a clear error for a directory. */
function textOf(source: ImportSource, format: string): string {
  if (source.kind === "text") return source.text;
  throw new Error(`${format} reads one file, not a directory`);
}

/** Every import format, by its command-line name. */
export const IMPORT_FORMATS: Readonly<Record<string, ImportFormat>> = {
  anthos: {
    description: "Anthos / Google Distributed Cloud cluster config registryMirrors",
    reads: "file",
    run: (s, o) => importAnthos(textOf(s, "anthos"), o),
  },
  gardener: {
    description: "Gardener registry-mirror MirrorConfig (or a Shoot holding one)",
    reads: "file",
    run: (s) => importGardener(textOf(s, "gardener")),
  },
  k3s: { description: "k3s / RKE2 registries.yaml", reads: "file", run: (s, o) => importK3s(textOf(s, "k3s"), o) },
  talos: { description: "Talos machine config or patch with machine.registries", reads: "file", run: (s) => importTalos(textOf(s, "talos")) },
  "registries-conf": {
    description: "CRI-O / podman containers-registries.conf, or a registries.conf.d directory",
    reads: "file-or-dir",
    run: (s) => importContainersRegistries(s.kind === "text" ? { "registries.conf": s.text } : s.files),
  },
  "certs-d": {
    description: "containerd hosts directory (certs.d with <registry>/hosts.toml)",
    reads: "dir",
    run: (s, o) => {
      if (s.kind !== "dir") throw new Error("certs-d reads a directory");
      return importCertsD(s.files, o);
    },
  },
};

/** One export format. */
export interface ExportFormat {
  /** What the format is, for `--help`. */
  readonly description: string;
  /** The conversion. */
  readonly run: (mirrors: readonly Mirror[], options: K3sExportOptions) => ExportResult;
}

/** Every export format, by its command-line name. */
export const EXPORT_FORMATS: Readonly<Record<string, ExportFormat>> = {
  gardener: { description: "Gardener registry-mirror MirrorConfig (a Shoot extension's providerConfig)", run: (m) => exportGardener(m) },
  talos: { description: "Talos machine-config patch (machine.registries)", run: (m) => exportTalos(m) },
  k3s: { description: "k3s / RKE2 registries.yaml (plus the certificate files it names)", run: (m, o) => exportK3s(m, o) },
};
