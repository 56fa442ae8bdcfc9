// Model downloads: a URL or a Hugging Face file (hf:owner/repo/path.gguf) into a cache folder,
// resumed with HTTP ranges, verified against the size and sha256 the server states, and renamed
// into place only when complete.
import { createHash } from "node:crypto";
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";

import { RingllmError } from "./errors";
import { abortedError, checkOptions, isAbortSignal, isFunction, isIntegerIn } from "./validate";

export interface DownloadOptions {
  /**
   * Folder the model goes into (default: RINGLLM_MODELS_DIR, else $XDG_CACHE_HOME/ringllm/models,
   * else ~/.cache/ringllm/models). Hugging Face files go to <dir>/<owner>/<repo>/<path>, URLs to
   * <dir>/<host>/<file name>.
   */
  dir?: string;
  /** Called with the bytes on disk and the total (null when the server does not say). */
  onProgress?: (done: number, total: number | null) => void;
  signal?: AbortSignal;
  /** A Hugging Face access token for gated or private repositories (default: HF_TOKEN). */
  token?: string;
  /** Hugging Face endpoint (default: HF_ENDPOINT, else https://huggingface.co), e.g. a mirror. */
  endpoint?: string;
  /** Connection drops survived per download, each resumed where it stopped (default 5). */
  retries?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** the sha256 the server stated and the file matched, or null when it stated none */
  sha256: string | null;
  /** false when the file was already there, complete */
  downloaded: boolean;
}

interface Source {
  url: string;
  /** path under the cache folder */
  relPath: string;
  hf: boolean;
}

const HF_SPEC = /^hf:([^/\s]+)\/([^/\s]+)\/(.+?)(?:@([^@/\s]+))?$/;

function resolveSource(source: string, endpoint: string): Source {
  const hf = HF_SPEC.exec(source);
  if (hf) {
    const [, owner, repo, file, rev] = hf;
    if (file.split("/").some((p) => p === ".." || p === ".")) {
      throw new RingllmError("INVALID_ARGUMENT", `downloadModel: "${source}" has a path with . or .. in it`);
    }
    const path = file.split("/").map(encodeURIComponent).join("/");
    return { url: `${endpoint.replace(/\/+$/, "")}/${owner}/${repo}/resolve/${encodeURIComponent(rev ?? "main")}/${path}`, relPath: join(owner, repo, ...file.split("/")), hf: true };
  }
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new RingllmError("INVALID_ARGUMENT", `downloadModel: "${source}" is neither an http(s) URL nor hf:owner/repo/file.gguf`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new RingllmError("INVALID_ARGUMENT", `downloadModel: only http(s) URLs and hf:owner/repo/file.gguf are supported; received ${url.protocol}`);
  }
  const name = basename(decodeURIComponent(url.pathname)) || "model.gguf";
  if (name === ".." || name === ".") throw new RingllmError("INVALID_ARGUMENT", `downloadModel: "${source}" names no file`);
  return { url: url.href, relPath: join(url.host.replace(/[:]/g, "_"), name), hf: false };
}

export function defaultModelsDir(): string {
  if (process.env.RINGLLM_MODELS_DIR) return process.env.RINGLLM_MODELS_DIR;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "ringllm", "models");
}

interface Remote {
  /** where the bytes are (after redirects) */
  url: string;
  size: number | null;
  sha256: string | null;
}

const SHA256 = /^"?(?:W\/)?"?([0-9a-f]{64})"?$/i;

/** HEAD through the redirects by hand: the Hub states the LFS file's sha256 and size on its own reply, not the CDN's. */
async function probe(url: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Remote> {
  let size: number | null = null;
  let sha: string | null = null;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, { method: "HEAD", redirect: "manual", headers, signal });
    const linkedSha = res.headers.get("x-linked-etag") ?? res.headers.get("etag");
    const m = linkedSha ? SHA256.exec(linkedSha.trim()) : null;
    if (m && sha === null) sha = m[1].toLowerCase();
    const linkedSize = res.headers.get("x-linked-size");
    if (linkedSize && size === null) size = Number(linkedSize);
    if (res.status >= 300 && res.status < 400) {
      const next = res.headers.get("location");
      if (!next) throw new RingllmError("DOWNLOAD_FAILED", `downloadModel: ${url} redirected (${res.status}) without a location`);
      url = new URL(next, url).href;
      continue;
    }
    if (!res.ok) throw httpError(url, res.status);
    const length = res.headers.get("content-length");
    if (size === null && length !== null && res.headers.get("content-encoding") === null) size = Number(length);
    return { url, size: size !== null && Number.isFinite(size) ? size : null, sha256: sha };
  }
  throw new RingllmError("DOWNLOAD_FAILED", `downloadModel: more than 10 redirects from ${url}`);
}

function httpError(url: string, status: number): RingllmError {
  const hint = status === 401 || status === 403 ? " (a gated or private repository: pass token, or set HF_TOKEN)"
    : status === 404 ? " (check the owner, repository, revision and file name)" : "";
  return new RingllmError("DOWNLOAD_FAILED", `downloadModel: ${url} answered HTTP ${status}${hint}`);
}

async function hashFile(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/**
 * Downloads a model file into the cache folder (or `dir`) and returns where it is. A Hugging Face
 * file is `hf:owner/repo/path/file.gguf` (optionally `@revision`); anything else is an http(s)
 * URL. An interrupted download resumes from where it stopped (HTTP range requests), in the same
 * call after a dropped connection and in a later call after an abort or a crash; the data is
 * written to `<name>.part` and renamed when its size and the sha256 the server states (the Hub does
 * for LFS files) match. A complete file already there is returned without downloading.
 *
 * @example
 * const { path } = await downloadModel("hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/tinyllama-1.1b-chat-v1.0.Q4_0.gguf", {
 *   onProgress: (done, total) => console.log(done, total),
 * });
 * const model = await loadModel(path);
 */
export async function downloadModel(source: string, options?: DownloadOptions): Promise<DownloadResult> {
  if (typeof source !== "string" || source.length === 0) {
    throw new RingllmError("INVALID_ARGUMENT", "downloadModel: source must be a URL or hf:owner/repo/file.gguf");
  }
  const isString = (v: unknown, name: string) => {
    if (typeof v !== "string" || v.length === 0) throw new RingllmError("INVALID_ARGUMENT", `${name} must be a non-empty string`);
  };
  checkOptions("downloadModel", options, {
    dir: isString, onProgress: isFunction, signal: isAbortSignal, token: isString, endpoint: isString, retries: isIntegerIn(0, 100),
  });
  const signal = options?.signal;
  if (signal?.aborted) throw abortedError("downloadModel", signal);
  const endpoint = options?.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co";
  const src = resolveSource(source, endpoint);
  const path = join(options?.dir ?? defaultModelsDir(), src.relPath);
  const part = `${path}.part`;
  const sidecar = `${path}.sha256`;  // the verified hash of a complete file, so a later call need not rehash it
  const token = options?.token ?? (src.hf ? process.env.HF_TOKEN : undefined);
  const headers: Record<string, string> = { "user-agent": "ringllm", "accept-encoding": "identity" };
  if (token) headers.authorization = `Bearer ${token}`;
  const onProgress = options?.onProgress;

  try {
    const remote = await probe(src.url, headers, signal);
    if (existsSync(path)) {
      const have = statSync(path).size;
      const known = existsSync(sidecar) ? readFileSync(sidecar, "utf8").trim() : null;
      if ((remote.size === null || have === remote.size) && (remote.sha256 === null || known === remote.sha256)) {
        onProgress?.(have, remote.size);
        return { path, bytes: have, sha256: remote.sha256, downloaded: false };
      }
    }
    mkdirSync(dirname(path), { recursive: true });
    let hash = createHash("sha256");
    let done = existsSync(part) ? statSync(part).size : 0;
    if (remote.size !== null && done > remote.size) {
      rmSync(part);
      done = 0;
    }
    if (done > 0) await hashFile(part, hash);
    let drops = 0;
    const retries = options?.retries ?? 5;
    while (remote.size === null || done < remote.size) {
      const h: Record<string, string> = { ...headers };
      if (done > 0) h.range = `bytes=${done}-`;
      let res: Response;
      try {
        res = await fetch(remote.url, { headers: h, signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        if (++drops > retries) throw err;
        continue;
      }
      if (done > 0 && res.status === 200) {
        // the server ignored the range: this reply is the whole file, start over with it
        done = 0;
        hash = createHash("sha256");
      }
      if (res.status === 416 && remote.size !== null && done === remote.size) break;
      if (!res.ok) throw httpError(remote.url, res.status);
      const fd = openSync(part, done > 0 ? "a" : "w");
      let finished = false;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          writeSync(fd, chunk);
          hash.update(chunk);
          done += chunk.length;
          onProgress?.(done, remote.size);
        }
        finished = true;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (++drops > retries) throw err;
      } finally {
        closeSync(fd);
      }
      if (finished && remote.size === null) break;
      if (finished && remote.size !== null && done < remote.size && ++drops > retries) {
        throw new RingllmError("DOWNLOAD_FAILED", `downloadModel: the server ended the file at ${done} of ${remote.size} bytes`);
      }
    }
    if (remote.size !== null && done !== remote.size) {
      rmSync(part, { force: true });
      throw new RingllmError("DOWNLOAD_CORRUPT", `downloadModel: got ${done} bytes; the server said ${remote.size}; the partial file was removed, try again`);
    }
    const sha = hash.digest("hex");
    if (remote.sha256 !== null && sha !== remote.sha256) {
      rmSync(part, { force: true });
      throw new RingllmError("DOWNLOAD_CORRUPT", `downloadModel: the file's sha256 is ${sha}; the server said ${remote.sha256}; the partial file was removed, try again`);
    }
    renameSync(part, path);
    if (remote.sha256 !== null) writeFileSync(sidecar, remote.sha256 + "\n");
    else rmSync(sidecar, { force: true });
    return { path, bytes: done, sha256: remote.sha256, downloaded: true };
  } catch (err) {
    if (signal?.aborted) throw abortedError("downloadModel", signal);
    if (err instanceof RingllmError) throw err;
    throw new RingllmError("DOWNLOAD_FAILED", `downloadModel: ${src.url}: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error & { cause: unknown }).cause)})` : ""}`, { cause: err });
  }
}
