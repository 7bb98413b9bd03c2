// Tests of the pure protocol functions; run with `node --test web/client`
// (go test ./web runs them too).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as p from "./protocol.js";

test("block ids are Fine Uploader's: base64 of the 5-digit part number", () => {
  assert.equal(p.blockId(0), "MDAwMDA=");
  assert.equal(p.blockId(1), "MDAwMDE=");
  assert.equal(p.blockId(12345), Buffer.from("12345").toString("base64"));
  assert.equal(p.blockId(49_999), Buffer.from("49999").toString("base64"));
  // Azure needs every id of a blob to have the same length.
  const lengths = new Set([0, 9, 10, 999, 1000, 49_999].map((i) => p.blockId(i).length));
  assert.deepEqual([...lengths], [8]);
  assert.throws(() => p.blockId(50_000), RangeError);
  assert.throws(() => p.blockId(-1), RangeError);
  assert.throws(() => p.blockId(1.5), RangeError);
});

test("chunk plan: one Put Blob up to chunkSize, then blocks that cover the file", () => {
  const MiB = 1024 * 1024;
  assert.equal(p.chunkPlan(0, 4 * MiB), null);
  assert.equal(p.chunkPlan(4 * MiB, 4 * MiB), null);
  const plan = p.chunkPlan(4 * MiB + 1, 4 * MiB);
  assert.deepEqual(plan, [
    { index: 0, id: "MDAwMDA=", start: 0, end: 4 * MiB },
    { index: 1, id: "MDAwMDE=", start: 4 * MiB, end: 4 * MiB + 1 },
  ]);
  const twenty = p.chunkPlan(20_000_000, 4 * MiB);
  assert.equal(twenty.length, 5);
  assert.equal(twenty.at(-1).end, 20_000_000);
  for (let i = 1; i < twenty.length; i++) {
    assert.equal(twenty[i].start, twenty[i - 1].end, "blocks are contiguous");
  }
  assert.equal(p.chunkPlan(12, 4).length, 3);
});

test("chunk plan refuses more blocks than Azure allows and nonsense sizes", () => {
  assert.equal(p.chunkPlan(50_000, 1).length, 50_000);
  assert.throws(() => p.chunkPlan(50_001, 1), /raise chunkSize/);
  assert.throws(() => p.chunkPlan(-1, 4), RangeError);
  assert.throws(() => p.chunkPlan(10, 0), RangeError);
  assert.throws(() => p.chunkPlan(10, Infinity), RangeError);
});

test("bloburi keeps the blob name raw; the query encodes it once", () => {
  const container = "http://127.0.0.1:10000/devstoreaccount1/uploads";
  const name = "users/alice/a b#c?d%e+f ü.txt";
  const uri = p.blobUri(container, name);
  assert.equal(uri, container + "/" + name);
  const url = p.signatureUrl("/sas", uri, "PUT");
  const q = new URL(url, "http://blobvalet.test").searchParams;
  assert.equal(q.get("bloburi"), uri, "the server decodes the exact bloburi");
  assert.equal(q.get("_method"), "PUT");
  assert.deepEqual([...q.keys()], ["bloburi", "_method"]);
  assert.ok(!url.includes(" ") && !url.includes("#"));
  // An endpoint that has a query already gets "&".
  assert.match(p.signatureUrl("https://b.example/sas?tenant=x", uri, "DELETE"), /\/sas\?tenant=x&bloburi=.*&_method=DELETE$/);
  assert.throws(() => p.signatureUrl("/sas", uri, "GET"));
  // A container URL that ends in "/" gives "//", as with Fine Uploader.
  assert.equal(p.blobUri(container + "/", "x"), container + "//x");
});

test("blob URL escapes each segment and keeps the slashes", () => {
  assert.equal(p.blobUrl("https://a.blob.core.windows.net/uploads", "users/bob/a b#1.png"),
    "https://a.blob.core.windows.net/uploads/users/bob/a%20b%231.png");
});

test("block and block list URLs append to the SAS", () => {
  const sas = "https://a.blob.core.windows.net/c/b?sv=2026-12-06&sig=x";
  assert.equal(p.blockUrl(sas, "MDAwMDA="), sas + "&comp=block&blockid=MDAwMDA%3D");
  assert.equal(p.blockListUrl(sas), sas + "&comp=blocklist");
  assert.equal(p.blockListXml(["MDAwMDA=", "MDAwMDE="]),
    '<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>MDAwMDA=</Latest><Latest>MDAwMDE=</Latest></BlockList>');
});

test("storage headers carry the type and the encoded file name", () => {
  const meta = { name: "x.png", type: "image/png", relativePath: null, caption: "sun set", bad$: "no", obj: { a: 1 } };
  assert.deepEqual(p.putBlobHeaders("sun ü.png", "image/png", meta), {
    "x-ms-blob-type": "BlockBlob",
    "Content-Type": "image/png",
    "x-ms-meta-qqfilename": "sun%20%C3%BC.png",
    "x-ms-meta-caption": "sun%20set",
  });
  assert.deepEqual(p.blockListHeaders("a.txt", "", {}), {
    "Content-Type": "text/plain",
    "x-ms-blob-content-type": "",
    "x-ms-meta-qqfilename": "a.txt",
  });
});

test("the upload-success form has Fine Uploader's fields, which win over meta", () => {
  const body = p.successForm({
    blobName: "users/alice/1.png", uuid: "u-1", fileName: "pic.png", containerUrl: "http://s/uploads",
    meta: { name: "pic.png", type: "image/png", album: "holiday", blob: "evil", n: 3, relativePath: null },
  });
  const f = new URLSearchParams(body);
  assert.deepEqual(f.getAll("blob"), ["users/alice/1.png"]);
  assert.equal(f.get("uuid"), "u-1");
  assert.deepEqual(f.getAll("name"), ["pic.png"]);
  assert.equal(f.get("container"), "http://s/uploads");
  assert.equal(f.get("album"), "holiday");
  assert.equal(f.get("n"), "3");
  assert.equal(f.get("type"), null);
  assert.equal(f.get("relativePath"), null);
});

test("upload-success answers are read as Fine Uploader reads them", () => {
  const ok = p.parseSuccess(200, '{"success":true,"thumbnailUrl":"http://t"}');
  assert.equal(ok.ok, true);
  assert.equal(ok.body.thumbnailUrl, "http://t");
  assert.equal(p.parseSuccess(204, "").ok, true);
  assert.equal(p.parseSuccess(200, "not json").ok, true);
  const rejected = p.parseSuccess(422, '{"error":"file content is text/html, not an allowed type","preventRetry":true}');
  assert.equal(rejected.ok, false);
  assert.equal(rejected.message, "file content is text/html, not an allowed type");
  assert.equal(rejected.preventRetry, true);
  assert.equal(p.parseSuccess(200, '{"success":false}').ok, false);
  assert.equal(p.parseSuccess(200, '{"error":"no"}').message, "no");
  assert.match(p.parseSuccess(500, "").message, /HTTP 500/);
  assert.match(p.parseSuccess(0, "").message, /network error/);
});

test("refusals explain themselves", () => {
  assert.match(p.refusalMessage(401, "authentication required\n", "u"), /^blobvalet did not accept your credentials \(401\)/);
  assert.equal(p.refusalMessage(403, "no rule allows PUT\n", "http://s/uploads/users/alice/x"),
    "not allowed to upload to http://s/uploads/users/alice/x (403): no rule allows PUT");
});

test("only failures on the way are retried", () => {
  for (const s of [0, 408, 429, 500, 502, 503]) assert.equal(p.retryable(s), true, String(s));
  for (const s of [400, 401, 403, 404, 409, 413, 422]) assert.equal(p.retryable(s), false, String(s));
});

test("default blob names are a v4 UUID plus the last extension", () => {
  const id = p.uuidv4(new Uint8Array(16).fill(0xff));
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(p.defaultBlobName(id, "a.tar.gz"), id + ".gz");
  assert.equal(p.defaultBlobName(id, "noext"), id);
  assert.equal(p.defaultBlobName(id, "trailing."), id);
  assert.throws(() => p.uuidv4(new Uint8Array(3)));
});
