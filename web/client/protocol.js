// blobvalet's wire protocol, as pure functions: no I/O, no Uppy, no DOM.
//
// blobvalet speaks the protocol of Fine Uploader Azure, so that both clients
// work against the same server:
//
//   1. GET <signatureEndpoint>?bloburi=<containerUrl>/<blob name>&_method=PUT
//      answers 200 with the raw SAS URI of that one blob as plain text. A
//      fresh one is asked for before every request to storage.
//   2. The browser sends the file to storage with that SAS: Put Blob for a
//      small file, or Put Block per chunk and then Put Block List.
//   3. POST <successEndpoint>, form-encoded blob, uuid, name and container,
//      lets blobvalet verify the upload; it answers JSON.
//   4. Cancelling cleans up with _method=DELETE and a Delete Blob.
//
// The plugin (uppy-blobvalet.js) imports these; the tests run them in Node.

/** Azure's limit on the blocks of one block blob. */
export const MAX_BLOCKS = 50_000;

/**
 * The id of block `index` (0-based): base64 of the part number zero-padded
 * to 5 digits, as Fine Uploader makes them ("MDAwMDA=" for block 0). Azure
 * needs all ids of a blob to have the same length, hence the fixed width.
 */
export function blockId(index) {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_BLOCKS) {
    throw new RangeError(`block index ${index} is outside 0..${MAX_BLOCKS - 1}`);
  }
  return btoa(String(index).padStart(5, "0"));
}

/**
 * How a file of `size` bytes goes up: null for one Put Blob (size up to
 * chunkSize, empty files included), or the list of blocks
 * {index, id, start, end} (end exclusive) that cover it in order.
 */
export function chunkPlan(size, chunkSize) {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`file size ${size} is not a byte count`);
  }
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`chunkSize ${chunkSize} is not a positive byte count`);
  }
  if (size <= chunkSize) {
    return null;
  }
  const count = Math.ceil(size / chunkSize);
  if (count > MAX_BLOCKS) {
    throw new RangeError(
      `a file of ${size} bytes needs ${count} blocks of ${chunkSize} bytes; Azure allows ${MAX_BLOCKS}: raise chunkSize`,
    );
  }
  const blocks = [];
  for (let index = 0; index < count; index++) {
    const start = index * chunkSize;
    blocks.push({ index, id: blockId(index), start, end: Math.min(start + chunkSize, size) });
  }
  return blocks;
}

/**
 * The bloburi blobvalet signs for: the container URL exactly as configured,
 * "/", and the blob name NOT encoded. blobvalet matches the container URL as
 * a string prefix and takes the rest, raw, as the name, so "a b#c?.txt"
 * must arrive as those characters (encodeURIComponent of the whole query
 * value takes care of transport).
 */
export function blobUri(containerUrl, blobName) {
  return containerUrl + "/" + blobName;
}

/** The URL of the signature request for method "PUT" or "DELETE". */
export function signatureUrl(signatureEndpoint, bloburi, method) {
  if (method !== "PUT" && method !== "DELETE") {
    throw new Error(`_method must be PUT or DELETE, not ${method}`);
  }
  const sep = signatureEndpoint.includes("?") ? "&" : "?";
  return signatureEndpoint + sep + "bloburi=" + encodeURIComponent(bloburi) + "&_method=" + method;
}

/**
 * The blob's address without a SAS, each path segment escaped: what Uppy
 * reports as the file's uploadURL.
 */
export function blobUrl(containerUrl, blobName) {
  return containerUrl + "/" + blobName.split("/").map(encodeURIComponent).join("/");
}

/** Put Block's URL: the SAS URI (which already has its "?") plus the block. */
export function blockUrl(sas, id) {
  return sas + "&comp=block&blockid=" + encodeURIComponent(id);
}

/** Put Block List's URL. */
export function blockListUrl(sas) {
  return sas + "&comp=blocklist";
}

/** Put Block List's body: every block, in order, from the latest version. */
export function blockListXml(ids) {
  return '<?xml version="1.0" encoding="utf-8"?><BlockList>' +
    ids.map((id) => "<Latest>" + id + "</Latest>").join("") +
    "</BlockList>";
}

// Uppy keeps these in every file's meta; they are not the page's metadata.
const uppyOwnMeta = new Set(["name", "type", "relativePath"]);

// Azure metadata names are C# identifiers.
const metaName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The blob metadata headers: x-ms-meta-qqfilename (the original file name,
 * which blobvalet reads) and one x-ms-meta-<key> for each of the page's own
 * scalar meta fields. Values are encodeURIComponent-ed, as Fine Uploader
 * does, so that any name survives HTTP headers.
 */
export function metaHeaders(fileName, meta = {}) {
  const h = { "x-ms-meta-qqfilename": encodeURIComponent(fileName) };
  for (const [k, v] of Object.entries(meta)) {
    if (uppyOwnMeta.has(k) || !metaName.test(k) || k.toLowerCase() === "qqfilename" || !isScalar(v)) continue;
    h["x-ms-meta-" + k] = encodeURIComponent(String(v));
  }
  return h;
}

/** Put Blob's headers for a whole file. */
export function putBlobHeaders(fileName, contentType, meta) {
  return {
    "x-ms-blob-type": "BlockBlob",
    "Content-Type": contentType || "",
    ...metaHeaders(fileName, meta),
  };
}

/** Put Block List's headers: the content type goes as x-ms-blob-content-type. */
export function blockListHeaders(fileName, contentType, meta) {
  return {
    "Content-Type": "text/plain",
    "x-ms-blob-content-type": contentType || "",
    ...metaHeaders(fileName, meta),
  };
}

/**
 * The upload-success form: the page's scalar meta fields, then the fields
 * Fine Uploader sends (blob, uuid, name, container), which win over meta of
 * the same name.
 */
export function successForm({ blobName, uuid, fileName, containerUrl, meta = {} }) {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(meta)) {
    if (uppyOwnMeta.has(k) || ["blob", "uuid", "container"].includes(k) || !isScalar(v)) continue;
    form.append(k, String(v));
  }
  form.append("blob", blobName);
  form.append("uuid", uuid);
  form.append("name", fileName);
  form.append("container", containerUrl);
  return form.toString();
}

/**
 * Reads an upload-success answer as Fine Uploader does: 200 to 204 with no
 * truthy `error` and no `success: false` is success (an empty or non-JSON
 * body too); anything else fails, with the server's `error` as the message.
 */
export function parseSuccess(status, text) {
  let body = {};
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) body = parsed;
  } catch {
    // Not JSON: only the status counts.
  }
  const ok = status >= 200 && status <= 204 && !body.error && body.success !== false;
  return {
    ok,
    body,
    message: ok ? "" : (typeof body.error === "string" && body.error) || `upload check failed (HTTP ${status || "network error"})`,
    preventRetry: !ok && body.preventRetry === true,
    reset: !ok && body.reset === true,
  };
}

/**
 * The message for a refused signature request. blobvalet answers 401 when
 * it does not know who is asking and 403 when the rules say no; neither is
 * worth retrying.
 */
export function refusalMessage(status, text, bloburi) {
  const reason = (text || "").trim();
  if (status === 401) {
    return "blobvalet did not accept your credentials (401): sign in again" + (reason ? ` (${reason})` : "");
  }
  if (status === 403) {
    return `not allowed to upload to ${bloburi} (403)` + (reason ? `: ${reason}` : "");
  }
  return `blobvalet could not sign the upload (HTTP ${status})` + (reason ? `: ${reason}` : "");
}

/** Whether a request that ended with `status` (0: no answer) may be tried again. */
export function retryable(status) {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/** A lowercase v4 UUID from 16 random bytes. */
export function uuidv4(bytes) {
  const b = Uint8Array.from(bytes);
  if (b.length !== 16) throw new Error("uuidv4 needs 16 bytes");
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Fine Uploader's default blob name: the upload's uuid plus "." and the text
 * after the last dot of the file name ("a.tar.gz" gives "<uuid>.gz",
 * "noext" gives "<uuid>").
 */
export function defaultBlobName(uuid, fileName) {
  const dot = fileName.lastIndexOf(".");
  return dot > 0 && dot < fileName.length - 1 ? uuid + fileName.slice(dot) : uuid;
}

function isScalar(v) {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}
