// downloadModel / `ringllm pull` against a local server on 127.0.0.1 that serves a generated GGUF
// the way the Hugging Face Hub does: /owner/repo/resolve/main/file answers with the LFS file's
// sha256 and size (X-Linked-Etag, X-Linked-Size) and a 302 to a CDN path that serves the bytes with
// range requests. Faults on demand: a connection dropped mid-file, a wrong sha256, a missing file.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

import { downloadModel, loadModel } from "../../lib";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { ROOT, tempDir } from "../helpers";

let dir: { path: string; cleanup(): void };
let server: Server;
let base = "";
let file: Buffer;
let sha = "";
const log: { path: string; range: string | undefined; method: string }[] = [];
const faults = { dropAt: 0, drops: 0, wrongSha: false, ignoreRange: false, throttle: false };

beforeAll(async () => {
  dir = tempDir("ringllm-download-");
  const src = join(dir.path, "source.gguf");
  writeLlamaModel(src, { seed: 3, nLayer: 2, nEmbd: 64, nHead: 4, nFf: 128, nVocab: 320, contextLength: 64, weightType: "Q8_0" });
  file = readFileSync(src);
  sha = createHash("sha256").update(file).digest("hex");
  server = createServer((req, res) => {
    const url = req.url ?? "";
    log.push({ path: url, range: req.headers.range, method: req.method ?? "" });
    if (url === "/tiny/model/resolve/main/tiny.gguf") {
      res.writeHead(302, {
        location: "/cdn/blob/tiny?signature=x",
        "x-linked-etag": `"${faults.wrongSha ? "0".repeat(64) : sha}"`,
        "x-linked-size": String(file.length),
        etag: '"git-sha1-not-the-file"',
      });
      return res.end();
    }
    if (url.startsWith("/cdn/blob/tiny")) {
      let start = 0;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (m && !faults.ignoreRange) start = Number(m[1]);
      const headers = { "content-type": "application/octet-stream", "accept-ranges": "bytes", "content-length": String(file.length - start) };
      if (m && !faults.ignoreRange) res.writeHead(206, { ...headers, "content-range": `bytes ${start}-${file.length - 1}/${file.length}` });
      else res.writeHead(200, headers);
      if (req.method === "HEAD") return res.end();
      if (faults.dropAt > 0 && faults.drops > 0 && start < faults.dropAt) {
        faults.drops--;
        // half the bytes, then the connection goes away
        res.write(file.subarray(start, faults.dropAt), () => res.socket?.destroy());
        return;
      }
      if (faults.throttle) {
        // slowly, so a test can abort mid-file
        let at = start;
        const tick = setInterval(() => {
          if (at >= file.length || res.destroyed) { clearInterval(tick); res.end(); return; }
          res.write(file.subarray(at, Math.min(file.length, at + 4096)));
          at += 4096;
        }, 5);
        res.on("close", () => clearInterval(tick));
        return;
      }
      return res.end(file.subarray(start));
    }
    res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  dir.cleanup();
});
beforeEach(() => {
  log.length = 0;
  Object.assign(faults, { dropAt: 0, drops: 0, wrongSha: false, ignoreRange: false, throttle: false });
});

const HF = "hf:tiny/model/tiny.gguf";

test("an hf: file through the Hub's redirect: the bytes, the stated sha256, a loadable model; a second call downloads nothing", async () => {
  const to = join(dir.path, "a");
  const seen: number[] = [];
  const res = await downloadModel(HF, { dir: to, endpoint: base, onProgress: (done) => seen.push(done) });
  expect(res).toEqual({ path: join(to, "tiny", "model", "tiny.gguf"), bytes: file.length, sha256: sha, downloaded: true });
  expect(readFileSync(res.path).equals(file)).toBe(true);
  expect(seen[seen.length - 1]).toBe(file.length);
  expect(existsSync(`${res.path}.part`)).toBe(false);
  const model = await loadModel(res.path, { gpu: false });
  expect(model.architecture).toBe("llama");
  await model.close();

  log.length = 0;
  const again = await downloadModel(HF, { dir: to, endpoint: base });
  expect(again.downloaded).toBe(false);
  expect(log.some((r) => r.method === "GET")).toBe(false);
});

test("a connection dropped mid-file is resumed with a range request in the same call", async () => {
  faults.dropAt = Math.floor(file.length / 2);
  faults.drops = 1;
  const res = await downloadModel(HF, { dir: join(dir.path, "b"), endpoint: base });
  expect(readFileSync(res.path).equals(file)).toBe(true);
  const gets = log.filter((r) => r.method === "GET" && r.path.startsWith("/cdn/"));
  expect(gets.length).toBe(2);
  expect(gets[1].range).toBe(`bytes=${faults.dropAt}-`);
});

test("an aborted download leaves only the .part file; the next call resumes it", async () => {
  const to = join(dir.path, "c");
  faults.throttle = true;
  const ac = new AbortController();
  const p = downloadModel(HF, { dir: to, endpoint: base, signal: ac.signal, onProgress: (done) => { if (done > file.length / 3) ac.abort(); } });
  await expect(p).rejects.toMatchObject({ code: "ABORTED" });
  const final = join(to, "tiny", "model", "tiny.gguf");
  expect(existsSync(final)).toBe(false);
  const partial = statSync(`${final}.part`).size;
  expect(partial).toBeGreaterThan(0);
  expect(partial).toBeLessThan(file.length);
  faults.throttle = false;
  log.length = 0;
  const res = await downloadModel(HF, { dir: to, endpoint: base });
  expect(readFileSync(res.path).equals(file)).toBe(true);
  expect(log.find((r) => r.method === "GET" && r.path.startsWith("/cdn/"))?.range).toBe(`bytes=${partial}-`);
});

test("a server that ignores ranges: the download starts over and still verifies", async () => {
  const to = join(dir.path, "d");
  const final = join(to, "tiny", "model", "tiny.gguf");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(to, "tiny", "model"), { recursive: true });
  writeFileSync(`${final}.part`, file.subarray(0, 100));
  faults.ignoreRange = true;
  const res = await downloadModel(HF, { dir: to, endpoint: base });
  expect(readFileSync(res.path).equals(file)).toBe(true);
});

test("a sha256 mismatch is DOWNLOAD_CORRUPT and leaves no file; a missing file is DOWNLOAD_FAILED naming the status", async () => {
  const to = join(dir.path, "e");
  faults.wrongSha = true;
  await expect(downloadModel(HF, { dir: to, endpoint: base })).rejects.toMatchObject({ code: "DOWNLOAD_CORRUPT", message: expect.stringMatching(/sha256/) });
  const final = join(to, "tiny", "model", "tiny.gguf");
  expect(existsSync(final)).toBe(false);
  expect(existsSync(`${final}.part`)).toBe(false);
  await expect(downloadModel("hf:tiny/model/missing.gguf", { dir: to, endpoint: base })).rejects.toMatchObject({
    code: "DOWNLOAD_FAILED", message: expect.stringMatching(/HTTP 404.*check the owner/),
  });
  await expect(downloadModel("ftp://example.com/x.gguf", { dir: to })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(downloadModel("hf:a/b/../../etc/passwd", { dir: to })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
});

test("a plain URL (no stated sha256) and `ringllm pull` print the path", async () => {
  const to = join(dir.path, "f");
  // asynchronously: the server answering it lives in this process
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [join(ROOT, "dist", "cjs", "cli.js"), "pull", `${base}/cdn/blob/tiny`, "--dir", to], { timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
  expect(r.stderr).toMatch(/downloaded/);
  expect(r.code).toBe(0);
  const path = r.stdout.trim();
  expect(path).toBe(join(to, `127.0.0.1_${base.split(":").pop()}`, "tiny"));
  expect(readFileSync(path).equals(file)).toBe(true);
});
