/** Types shared by every converter between our spec and a neighbour's registry-mirror format. */
import type { Mirror } from "../model/types";

/** Something in the source that has no equivalent in the result (never dropped silently). */
export interface ConversionNote {
  /** Field path in the source document, e.g. `mirrors."docker.io".rewrite` or `docker.io/hosts.toml: host."…".header`. */
  readonly path: string;
  /** What was not carried over, and what to do about it. */
  readonly message: string;
}

/** What an importer returns: a validated spec and everything it could not carry over. */
export interface ImportResult {
  /** The imported mirrors; they passed `validateMirrors`. */
  readonly mirrors: Mirror[];
  /** Source fields without an equivalent in our spec, in document order. */
  readonly notes: ConversionNote[];
}

/** Options of the importers whose source refers to other files (a CA path, a Docker config.json). */
export interface ImportOptions {
  /**
   * Returns the text of a file the source refers to (as written in the source), or `undefined` when it cannot be
   * read. Without it, every file reference becomes a note. Kept as a callback so the converters stay pure.
   */
  readonly readFile?: (path: string) => string | undefined;
}

/** One file an exporter produces beside the main document (a certificate registries.yaml refers to). */
export interface ExportedFile {
  /** Absolute path the main document refers to. */
  readonly path: string;
  /** Exact content. */
  readonly content: string;
  /** Octal mode, `0o600` for private keys. */
  readonly mode: number;
}

/** What an exporter returns. */
export interface ExportResult {
  /** The document as a plain object (what the YAML text holds). */
  readonly document: Record<string, unknown>;
  /** The document as YAML text, ready to write. */
  readonly text: string;
  /** Files the document refers to, to be placed on the node at their paths. */
  readonly files: ExportedFile[];
}
