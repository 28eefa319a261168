/**
 * Tiny OCI images written by hand (no downloads): one gzip tar layer holding one file, a config JSON, a manifest
 * and index.json, in an OCI image layout that `skopeo copy oci:DIR:TAG docker://…` can push.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

const sha256 = (b: Buffer | string): string => crypto.createHash("sha256").update(b).digest("hex");

/** A one-file ustar archive. */
export function tarOneFile(name: string, content: Buffer, mtime = 1_700_000_000): Buffer {
  const header = Buffer.alloc(512, 0);
  const put = (off: number, len: number, s: string) => header.write(s.slice(0, len), off, len, "ascii");
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
  put(0, 100, name);
  put(100, 8, oct(0o644, 8));
  put(108, 8, oct(0, 8));
  put(116, 8, oct(0, 8));
  put(124, 12, oct(content.length, 12));
  put(136, 12, oct(mtime, 12));
  put(148, 8, "        ");
  put(156, 1, "0");
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  put(265, 32, "root");
  put(297, 32, "root");
  let sum = 0;
  for (const b of header) sum += b;
  put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512, 0);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024, 0)]);
}

export interface OciLayout {
  dir: string;
  tag: string;
  manifestDigest: string;
}

function goArch(): string {
  const m: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" };
  return m[process.arch] ?? process.arch;
}

/** One image of one layer, for {@link writeImageLayout}. */
export interface OneLayerImage {
  /** The layer as stored (a tar, gzip-compressed when `gzip`). */
  layer: Buffer;
  /** The uncompressed tar (its digest is the config's diff_id). */
  tar: Buffer;
  gzip: boolean;
  /** The image config's `config` (Entrypoint or Cmd, Labels). */
  config: Record<string, unknown>;
  /** The history entry. */
  history: Record<string, unknown>;
  /** Annotations of the index entry (`org.opencontainers.image.ref.name`, `io.containerd.image.name`). */
  annotations: Record<string, string>;
}

/** Write an OCI image layout in `dir` holding one image of one layer; the manifest's digest. */
export function writeImageLayout(dir: string, image: OneLayerImage): string {
  const blobs = path.join(dir, "blobs", "sha256");
  fs.mkdirSync(blobs, { recursive: true });
  const putBlob = (b: Buffer): { digest: string; size: number } => {
    const h = sha256(b);
    fs.writeFileSync(path.join(blobs, h), b);
    return { digest: `sha256:${h}`, size: b.length };
  };
  const layer = putBlob(image.layer);
  const config = putBlob(
    Buffer.from(
      JSON.stringify({
        architecture: goArch(),
        os: "linux",
        config: image.config,
        rootfs: { type: "layers", diff_ids: [`sha256:${sha256(image.tar)}`] },
        history: [image.history],
      }),
    ),
  );
  const manifest = putBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: `application/vnd.oci.image.layer.v1.tar${image.gzip ? "+gzip" : ""}`, ...layer }],
      }),
    ),
  );
  fs.writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  fs.writeFileSync(
    path.join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: image.annotations }],
    }),
  );
  return manifest.digest;
}

/** Write an OCI layout in `dir` with one image tagged `tag` whose only file `/hello.txt` holds `text`. */
export function writeOciLayout(dir: string, tag: string, text: string): OciLayout {
  const tar = tarOneFile("hello.txt", Buffer.from(text));
  const manifestDigest = writeImageLayout(dir, {
    layer: zlib.gzipSync(tar, { level: 6 }),
    tar,
    gzip: true,
    config: { Cmd: ["/hello.txt"], Labels: { "org.registry-mirrors.lab": "1" } },
    history: { created_by: "registry-mirrors lab", comment: text.slice(0, 60) },
    annotations: { "org.opencontainers.image.ref.name": tag },
  });
  return { dir, tag, manifestDigest };
}
