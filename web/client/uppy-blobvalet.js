// Uppy uploader plugin for Azure Blob Storage through blobvalet.
//
//   import { Uppy } from "@uppy/core";
//   import BlobvaletAzure from "https://blobvalet.example.com/client/uppy-blobvalet.js";
//   new Uppy().use(BlobvaletAzure, {
//     containerUrl: "https://ACCOUNT.blob.core.windows.net/uploads",
//     signatureEndpoint: "https://blobvalet.example.com/sas",
//     successEndpoint: "https://blobvalet.example.com/success",
//     headers: (file) => ({ Authorization: "Bearer " + token }),
//     blobName: (file) => `users/${user}/${file.id}.jpg`,
//   });
//
// Files go from the browser straight to storage; blobvalet only signs each
// request (after checking its rules) and verifies the finished upload. The
// plugin speaks the protocol Fine Uploader Azure speaks, described in
// protocol.js, so a server set up for one serves the other.
//
// Its only import besides protocol.js is the bare specifier "@uppy/core":
// a bundler resolves it, a page without one maps it with an import map.

import { BasePlugin } from "@uppy/core";
import * as protocol from "./protocol.js";

const defaults = {
  chunkSize: 4 * 1024 * 1024,
  limit: 4,
  headers: {},
};

// Waits before the 2nd, 3rd and 4th try of a request that failed on the way
// (no answer, a timeout, 429 or a 5xx); then the file fails and can be retried.
const retryDelays = [1000, 3000, 5000];

/** An error that tells whether trying again could help. */
class UploadError extends Error {
  constructor(message, { status = 0, retryable = false, response, reset = false } = {}) {
    super(message);
    this.name = "UploadError";
    this.status = status;
    this.retryable = retryable;
    this.response = response;
    this.reset = reset;
  }
}

function abortError() {
  return new DOMException("the upload was stopped", "AbortError");
}

const isAbort = (err) => err && err.name === "AbortError";

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      reject(abortError());
    }, { once: true });
  });
}

/**
 * At most `size` requests in flight across all files. acquire() waits for a
 * free slot (or rejects when the signal aborts while waiting).
 */
class Slots {
  constructor(size) {
    this.free = size;
    this.waiting = [];
  }

  acquire(signal) {
    if (signal.aborted) return Promise.reject(abortError());
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.waiting.push(waiter);
      signal.addEventListener("abort", () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) {
          this.waiting.splice(i, 1);
          reject(abortError());
        }
      }, { once: true });
    });
  }

  release() {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.free++;
  }
}

/**
 * One request to storage with XMLHttpRequest, because fetch reports no
 * upload progress. Resolves with {status, text} whatever the status (0 when
 * no answer came: network failure, CORS); rejects only when aborted.
 */
function xhrSend({ method, url, headers = {}, body = null, signal, onProgress }) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const xhr = new XMLHttpRequest();
    xhr.open(method, url, true);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) {
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
    }
    const onAbort = () => xhr.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const finish = (status) => {
      signal.removeEventListener("abort", onAbort);
      resolve({ status, text: status ? xhr.responseText : "" });
    };
    xhr.onload = () => finish(xhr.status);
    xhr.onerror = () => finish(0);
    xhr.ontimeout = () => finish(0);
    xhr.onabort = () => {
      signal.removeEventListener("abort", onAbort);
      reject(abortError());
    };
    xhr.send(body);
  });
}

/** What the plugin keeps about one file, across pauses and retries. */
class FileUpload {
  constructor(uuid) {
    // Sent as the upload-success "uuid" and used by the default blob name.
    this.uuid = uuid;
    // Resolved once, so that a retry goes on with the same blob.
    this.blobName = null;
    // The blocks of the file (null: one Put Blob), from protocol.chunkPlan.
    this.plan = null;
    // Indexes of the blocks storage has (Put Block answered 201).
    this.done = new Set();
    // Bytes sent of each block in flight, for progress.
    this.sending = new Map();
    // Put Blob or Put Block List succeeded: only the upload check is left.
    this.committed = false;
    // The upload check accepted the file: the blob is the page's now.
    this.finished = false;
    // Something may be in storage: cancelling must clean up.
    this.touched = false;
    // The file left Uppy: stop and never report on it again.
    this.removed = false;
    // Aborts the requests of the current run (pause, cancel, remove).
    this.controller = null;
    // Wakes a paused run.
    this.wake = null;
  }

  // reset forgets what storage has, so that the next run sends everything.
  reset() {
    this.done.clear();
    this.sending.clear();
    this.committed = false;
  }
}

/**
 * BlobvaletAzure uploads each file to its own blob, with a SAS from
 * blobvalet for every request. Options:
 *
 * - containerUrl (required): the container's URL, as blobvalet knows it.
 * - signatureEndpoint (required): blobvalet's /sas.
 * - successEndpoint: blobvalet's /success; leave it out only if the server
 *   does not verify uploads.
 * - headers: headers for blobvalet's endpoints (not storage), an object or
 *   a function of the file (may return a Promise).
 * - blobName: the blob's name in the container, a string or a function of
 *   the file returning a string or a Promise of one; the default is a
 *   random UUID plus the file's extension, as Fine Uploader names blobs.
 * - chunkSize (4 MiB): files larger than this go up in blocks of this size.
 * - limit (4): requests in flight, across all files.
 */
export default class BlobvaletAzure extends BasePlugin {
  static VERSION = "1.0.0";

  #files = new Map();
  #slots;
  // The server's thumbnail of each verified file, by file id.
  #thumbnails = new Map();

  constructor(uppy, opts) {
    super(uppy, { ...defaults, ...opts });
    this.id = this.opts.id || "BlobvaletAzure";
    this.type = "uploader";
    for (const k of ["containerUrl", "signatureEndpoint"]) {
      if (typeof this.opts[k] !== "string" || this.opts[k] === "") {
        throw new Error(`BlobvaletAzure: the ${k} option is required`);
      }
    }
    if (!(this.opts.limit >= 1)) {
      throw new Error("BlobvaletAzure: limit must be at least 1");
    }
    this.#slots = new Slots(this.opts.limit);
  }

  install() {
    this.uppy.setState({
      capabilities: { ...this.uppy.getState().capabilities, resumableUploads: true },
    });
    this.uppy.addUploader(this.#handleUpload);
    this.uppy.on("file-removed", this.#onFileRemoved);
    this.uppy.on("cancel-all", this.#onCancelAll);
    this.uppy.on("upload-pause", this.#onPause);
    this.uppy.on("pause-all", this.#onPauseAll);
    this.uppy.on("resume-all", this.#onResumeAll);
    this.uppy.on("thumbnail:generated", this.#onThumbnail);
  }

  uninstall() {
    this.uppy.setState({
      capabilities: { ...this.uppy.getState().capabilities, resumableUploads: false },
    });
    this.uppy.removeUploader(this.#handleUpload);
    this.uppy.off("file-removed", this.#onFileRemoved);
    this.uppy.off("cancel-all", this.#onCancelAll);
    this.uppy.off("upload-pause", this.#onPause);
    this.uppy.off("pause-all", this.#onPauseAll);
    this.uppy.off("resume-all", this.#onResumeAll);
    this.uppy.off("thumbnail:generated", this.#onThumbnail);
  }

  // ---- Uppy's side: the uploader step and the events that steer it.

  // Uppy calls this with the files of an upload (or of a retry). It
  // resolves when every file has succeeded, failed or left; each file's
  // outcome goes out as upload-success or upload-error.
  #handleUpload = async (fileIDs) => {
    // Like Uppy's own uploaders: skip files that failed (until retried) or are done.
    const files = this.uppy.getFilesByIds(fileIDs).filter((f) => !f.error && !f.progress.uploadComplete);
    this.uppy.emit("upload-start", files.filter((f) => !f.progress.uploadStarted || !f.isRestored));
    await Promise.allSettled(files.map((f) => this.#uploadFile(f.id)));
  };

  // A thumbnail the browser makes of the local file may be done after the
  // upload was verified: the server's thumbnail stays the preview.
  #onThumbnail = (file) => {
    const url = this.#thumbnails.get(file.id);
    if (url && this.uppy.getFile(file.id) && this.uppy.getFile(file.id).preview !== url) {
      this.uppy.setFileState(file.id, { preview: url });
    }
  };

  #onFileRemoved = (file) => {
    this.#thumbnails.delete(file.id);
    const st = this.#files.get(file.id);
    if (!st) return;
    this.#files.delete(file.id);
    this.#stop(st);
    // A blob whose upload did not finish is cleaned up, as Fine Uploader
    // does on cancel; a finished upload stays: removing it from the list
    // does not delete the user's file.
    if (st.touched && !st.finished) {
      this.#deleteBlob(file, st).catch((err) => this.uppy.log(`[BlobvaletAzure] cleanup of ${st.blobName} failed: ${err.message}`, "warning"));
    }
  };

  // cancel-all is followed by file-removed for every file, which cleans up;
  // stopping here first aborts the requests at once.
  #onCancelAll = () => {
    for (const st of this.#files.values()) this.#stop(st);
  };

  #onPause = (file, isPaused) => {
    const st = file && this.#files.get(file.id);
    if (!st) return;
    if (isPaused) st.controller?.abort();
    else st.wake?.();
  };

  #onPauseAll = () => {
    for (const st of this.#files.values()) st.controller?.abort();
  };

  #onResumeAll = () => {
    for (const st of this.#files.values()) st.wake?.();
  };

  #stop(st) {
    st.removed = true;
    st.controller?.abort();
    st.wake?.();
  }

  #isPaused(id) {
    return !!this.uppy.getFile(id)?.isPaused;
  }

  // ---- One file.

  async #uploadFile(id) {
    let st = this.#files.get(id);
    if (!st) {
      st = new FileUpload(protocol.uuidv4(crypto.getRandomValues(new Uint8Array(16))));
      this.#files.set(id, st);
    }
    st.removed = false;
    try {
      const file = this.uppy.getFile(id);
      if (file.isRemote) {
        throw new UploadError("BlobvaletAzure uploads local files only, not files from remote sources");
      }
      if (file.data == null) {
        throw new UploadError(`the data of ${file.name} is not available any more: add the file again`);
      }
      // Each pass runs until done, failed or stopped; a pause stops it, and
      // the next pass goes on from the first block storage does not have.
      for (;;) {
        if (this.#isPaused(id)) {
          await new Promise((resolve) => { st.wake = resolve; });
          st.wake = null;
        }
        if (st.removed) return;
        st.controller = new AbortController();
        try {
          await this.#transfer(this.uppy.getFile(id), st, st.controller.signal);
          break;
        } catch (err) {
          if (st.removed) return;
          if (isAbort(err) && this.#isPaused(id)) continue;
          throw err;
        } finally {
          st.sending.clear();
        }
      }
      await this.#verify(this.uppy.getFile(id), st);
    } catch (err) {
      if (st.removed || isAbort(err)) return;
      if (err.reset) st.reset();
      this.uppy.log(`[BlobvaletAzure] ${err.message}`, "error");
      this.uppy.emit("upload-error", this.uppy.getFile(id), err, err.response);
    } finally {
      st.controller = null;
    }
  }

  // #transfer gets the file into storage: one Put Blob, or the blocks not yet
  // stored and then Put Block List.
  async #transfer(file, st, signal) {
    if (st.committed) return;
    if (st.blobName == null) {
      st.blobName = await this.#resolveBlobName(file, st);
    }
    const plan = protocol.chunkPlan(file.size, this.opts.chunkSize);
    st.plan = plan;
    if (plan == null) {
      await this.#storageRequest(file, st, signal, (sas) => ({
        method: "PUT",
        url: sas,
        headers: protocol.putBlobHeaders(file.name, file.type, file.meta),
        body: file.data,
        onProgress: (loaded) => this.#progress(file, st, 0, loaded),
      }), "Put Blob");
    } else {
      await this.#putBlocks(file, st, plan, signal);
      await this.#storageRequest(file, st, signal, (sas) => ({
        method: "PUT",
        url: protocol.blockListUrl(sas),
        headers: protocol.blockListHeaders(file.name, file.type, file.meta),
        body: protocol.blockListXml(plan.map((b) => b.id)),
      }), "Put Block List");
    }
    st.committed = true;
  }

  // #putBlocks sends every block storage does not have yet, `limit` at a time
  // across all files. The first block that fails for good stops the others.
  async #putBlocks(file, st, plan, signal) {
    const todo = plan.filter((b) => !st.done.has(b.index));
    this.#progress(file, st);
    const inner = new AbortController();
    const stopInner = () => inner.abort();
    signal.addEventListener("abort", stopInner, { once: true });
    let failure = null;
    const worker = async () => {
      while (todo.length > 0 && failure == null) {
        const block = todo.shift();
        try {
          await this.#storageRequest(file, st, inner.signal, (sas) => ({
            method: "PUT",
            url: protocol.blockUrl(sas, block.id),
            body: file.data.slice(block.start, block.end),
            onProgress: (loaded) => this.#progress(file, st, block.index, loaded),
          }), `Put Block ${block.index}`);
          st.sending.delete(block.index);
          st.done.add(block.index);
          this.#progress(file, st);
        } catch (err) {
          failure ??= err;
          inner.abort();
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.opts.limit, todo.length) }, worker));
    } finally {
      signal.removeEventListener("abort", stopInner);
    }
    if (signal.aborted) throw abortError();
    if (failure) throw failure;
  }

  // #storageRequest asks blobvalet for a fresh SAS and sends one request to
  // storage with it, trying again (with a new SAS each time) after failures
  // on the way. A refusal from blobvalet is final.
  async #storageRequest(file, st, signal, build, what) {
    for (let attempt = 0; ; attempt++) {
      await this.#slots.acquire(signal);
      let res;
      try {
        const sas = await this.#sign(file, st, "PUT", signal);
        st.touched = true;
        res = await xhrSend({ ...build(sas), signal });
      } finally {
        this.#slots.release();
      }
      if (res.status === 201) return res;
      // An SAS that storage refuses (403) may have expired on the way or met
      // a skewed clock: a new one is worth a try, like the other failures.
      const again = protocol.retryable(res.status) || res.status === 403;
      if (!again || attempt >= retryDelays.length) {
        throw new UploadError(`${what} of ${file.name} failed: ${res.status ? `storage answered HTTP ${res.status}` : "no answer from storage (network or CORS)"}`, {
          status: res.status, response: { status: res.status, body: { text: res.text } },
        });
      }
      this.uppy.log(`[BlobvaletAzure] ${what} of ${file.name}: HTTP ${res.status}, trying again`, "warning");
      await sleep(retryDelays[attempt], signal);
    }
  }

  // #sign asks blobvalet for a SAS for this file's blob: GET
  // signatureEndpoint?bloburi=…&_method=PUT|DELETE. The answer's body, as
  // is, is the SAS URI.
  async #sign(file, st, method, signal) {
    const bloburi = protocol.blobUri(this.opts.containerUrl, st.blobName);
    const url = protocol.signatureUrl(this.opts.signatureEndpoint, bloburi, method);
    for (let attempt = 0; ; attempt++) {
      let status = 0;
      let text = "";
      try {
        const res = await fetch(url, { headers: await this.#headers(file), cache: "no-store", signal });
        status = res.status;
        text = await res.text();
      } catch (err) {
        if (isAbort(err)) throw err;
      }
      if (status === 200 && text !== "") return text;
      if (!protocol.retryable(status) || attempt >= retryDelays.length) {
        throw new UploadError(protocol.refusalMessage(status, text, bloburi), {
          status, response: { status, body: { error: text } },
        });
      }
      await sleep(retryDelays[attempt], signal);
    }
  }

  // #verify asks blobvalet to check the blob (POST successEndpoint) and
  // reports the outcome to Uppy.
  async #verify(file, st) {
    const uploadURL = protocol.blobUrl(this.opts.containerUrl, st.blobName);
    let body = {};
    let status = 201;
    if (this.opts.successEndpoint) {
      let text = "";
      status = 0;
      try {
        const res = await fetch(this.opts.successEndpoint, {
          method: "POST",
          headers: {
            Accept: "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            ...(await this.#headers(file)),
          },
          body: protocol.successForm({
            blobName: st.blobName, uuid: st.uuid, fileName: file.name, containerUrl: this.opts.containerUrl, meta: file.meta,
          }),
        });
        status = res.status;
        text = await res.text();
      } catch {
        // status 0: the check did not answer; a retry asks again.
      }
      if (st.removed) return;
      const answer = protocol.parseSuccess(status, text);
      if (!answer.ok) {
        // A refused upload is gone from storage (blobvalet removes what it
        // rejects): a retry must send the file again. A check that did not
        // answer is only asked again.
        throw new UploadError(answer.message, {
          status,
          response: { status, body: answer.body },
          reset: answer.reset || (status >= 400 && status < 500),
        });
      }
      body = answer.body;
    }
    st.finished = true;
    this.uppy.emit("upload-success", this.uppy.getFile(file.id), { status, body, uploadURL });
    // The server's thumbnail becomes the file's preview, as in Fine Uploader.
    if (typeof body.thumbnailUrl === "string" && body.thumbnailUrl !== "" && this.uppy.getFile(file.id)) {
      this.#thumbnails.set(file.id, body.thumbnailUrl);
      this.uppy.setFileState(file.id, { preview: body.thumbnailUrl });
    }
  }

  // #deleteBlob cleans up after a cancelled upload: a DELETE SAS, then Delete
  // Blob. Storage answers 404 when only uncommitted blocks were there.
  async #deleteBlob(file, st) {
    const signal = new AbortController().signal;
    const sas = await this.#sign(file, st, "DELETE", signal);
    const res = await xhrSend({ method: "DELETE", url: sas, signal });
    if (res.status !== 202 && res.status !== 404) {
      throw new Error(`Delete Blob answered HTTP ${res.status}`);
    }
  }

  async #resolveBlobName(file, st) {
    const { blobName } = this.opts;
    let name;
    if (typeof blobName === "function") name = await blobName(file);
    else if (blobName != null) name = blobName;
    else name = protocol.defaultBlobName(st.uuid, file.name);
    if (typeof name !== "string" || name === "") {
      throw new UploadError(`the blobName option gave ${JSON.stringify(name)} for ${file.name}, not a name`);
    }
    return name;
  }

  async #headers(file) {
    const { headers } = this.opts;
    return { ...(typeof headers === "function" ? await headers(file) : headers) };
  }

  // #progress tells Uppy how many bytes storage has or is receiving. With a
  // block index and a byte count it first records that block's progress.
  #progress(file, st, index, loaded) {
    if (index !== undefined) st.sending.set(index, loaded);
    let bytes = 0;
    for (const i of st.done) bytes += st.plan[i].end - st.plan[i].start;
    for (const n of st.sending.values()) bytes += n;
    const latest = this.uppy.getFile(file.id);
    if (!latest) return;
    this.uppy.emit("upload-progress", latest, {
      uploadStarted: latest.progress.uploadStarted ?? Date.now(),
      bytesUploaded: Math.min(bytes, file.size),
      bytesTotal: file.size,
    });
  }
}
