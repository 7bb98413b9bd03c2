// The demo page on S3 (blobvalet dev --storage s3): Fine Uploader S3, or
// with ?client=uppy-s3 Uppy's AWS S3 uploader, wired to blobvalet's S3
// routes. Everything a real page needs is in the qq.s3.FineUploader call
// and in the AwsS3 options with the upload-success handler; the rest is
// the demo's controls. ?success=off leaves out the upload-success request,
// as a careless or hostile page would: the file then never reaches its
// final name. ?bucket= picks the final bucket (default: the demo's).
import { Uppy, Dashboard, AwsS3 } from "@uppy/core";

const demo = await (await fetch("/demo.json")).json();
const s3 = demo.s3;
const params = new URLSearchParams(location.search);
const userSelect = document.getElementById("user");
const folderInput = document.getElementById("folder");
const keepNames = document.getElementById("keepnames");
const hint = document.getElementById("hint");
const clientSelect = document.getElementById("client");
const client = params.get("client") === "uppy-s3" ? "uppy-s3" : "fine-uploader-s3";
const bucket = params.get("bucket") || s3.finalBucket;
const successOff = params.get("success") === "off";

for (const u of demo.users) {
  const opt = document.createElement("option");
  opt.value = u.id;
  opt.textContent = u.id;
  userSelect.appendChild(opt);
}
userSelect.value = params.get("user") || demo.users[0].id;
folderInput.value = params.get("folder") || "users/" + userSelect.value + "/";
keepNames.checked = params.get("names") === "original";

const token = demo.users.find((u) => u.id === userSelect.value).token;
const auth = { Authorization: "Bearer " + token };

// Observed by the browser tests, and handy in the console: the events, and
// the final name each file was given, by Fine Uploader id or Uppy file id.
window.demoEvents = [];
window.demoNames = {};
const record = (type, id, detail) => window.demoEvents.push({ type, id, detail });

const own = "users/" + userSelect.value + "/";
hint.textContent = folderInput.value === own
  ? "Files go to " + bucket + "/" + own + ", through the staging bucket " + s3.bucket + "."
  : "This folder is not " + userSelect.value + "'s own: blobvalet will refuse to sign uploads there.";
hint.className = folderInput.value === own ? "hint" : "hint warn";

// The headers go into the uploaders when they are made: another user or
// client reloads the page.
const reload = (name, value) => {
  params.set(name, value);
  if (name === "user") {
    params.delete("folder");
  }
  location.search = params.toString();
};
userSelect.addEventListener("change", () => reload("user", userSelect.value));
clientSelect.value = client;
clientSelect.addEventListener("change", () => reload("client", clientSelect.value));

// finalName is the name a file is to have in the final bucket.
function finalName(file, uuid) {
  const dot = file.lastIndexOf(".");
  return folderInput.value + (keepNames.checked ? file : uuid + (dot > 0 ? file.slice(dot) : ""));
}

if (client === "uppy-s3") {
  document.getElementById("uploader").hidden = true;
  document.getElementById("uppy").hidden = false;
  const uppy = new Uppy({ autoProceed: true })
    .use(Dashboard, {
      inline: true,
      target: "#uppy",
      width: "100%",
      height: 420,
      showRemoveButtonAfterComplete: true,
      proudlyDisplayPoweredByUppy: false,
    })
    .use(AwsS3, {
      // Parts of 5 MiB above that size; a single PUT below.
      shouldUseMultipart: (file) => file.size > 5 * 2 ** 20,
      // The key Uppy starts with is the final name; blobvalet answers the
      // staging key, which Uppy uses from then on.
      generateObjectKey: (file) => {
        const name = finalName(file.name, crypto.randomUUID());
        window.demoNames[file.id] = name;
        return name;
      },
      async signRequest(req) {
        record("sign", null, { method: req.method, uploadId: Boolean(req.uploadId), partNumber: req.partNumber });
        const r = await fetch("/s3/presign?bucket=" + encodeURIComponent(bucket), {
          method: "POST",
          headers: { ...auth, "Content-Type": "application/json" },
          body: JSON.stringify({ method: req.method, key: req.key, uploadId: req.uploadId, partNumber: req.partNumber }),
        });
        const j = await r.json();
        if (!r.ok) {
          throw new Error(j.error || "blobvalet refused to sign (" + r.status + ")");
        }
        return j;
      },
    });
  // Uppy's upload-success means storage has the bytes: blobvalet has not
  // looked yet. /success verifies the file and moves it to its final name.
  uppy.on("upload-success", async (file, response) => {
    record("uploaded", file.id, response.body);
    if (successOff) {
      return;
    }
    const r = await fetch("/success", {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ key: response.body.key }),
    });
    const j = await r.json().catch(() => ({ error: "status " + r.status }));
    if (j.success) {
      record("complete", file.id, j);
    } else {
      uppy.info(j.error || "verification failed", "error", 10000);
      record("failed", file.id, j);
    }
  });
  uppy.on("file-added", (file) => record("added", file.id, file.name));
  uppy.on("upload-error", (file, error) => record("error", file.id, error.message));
  window.demoUppy = uppy;
} else {
  await new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/vendor/fine-uploader-s3/s3.fine-uploader.min.js";
    s.onload = resolve;
    s.onerror = reject;
    document.head.appendChild(s);
  });
  const uploader = new qq.s3.FineUploader({
    element: document.getElementById("uploader"),
    template: "qq-template",
    request: {
      // The staging bucket's virtual-hosted endpoint: v4 chunking signs
      // the key without the bucket, and fails path-style.
      endpoint: s3.endpoint,
      accessKey: s3.accessKey,
    },
    objectProperties: {
      bucket: s3.bucket,
      region: s3.region,
      acl: s3.acl,
      // The staging key, from blobvalet, for the file's final name.
      key: (id) => {
        const p = new qq.Promise();
        const name = finalName(uploader.getName(id), uploader.getUuid(id));
        window.demoNames[id] = name;
        fetch("/s3/key?bucket=" + encodeURIComponent(bucket) + "&name=" + encodeURIComponent(name), { headers: auth })
          .then((r) => r.json().then((j) => (r.ok ? p.success(j.key) : p.failure(j.error))))
          .catch((e) => p.failure(String(e)));
        return p;
      },
    },
    signature: { version: 4, endpoint: "/s3/sign", customHeaders: auth },
    uploadSuccess: successOff ? {} : { endpoint: "/success", customHeaders: auth },
    deleteFile: { enabled: true, endpoint: "/s3/files", customHeaders: auth, forceConfirm: false },
    chunking: { enabled: true },
    retry: { enableAuto: false, showButton: true },
    cors: { expected: true },
    // Show the server's reason for a failed file, not "Upload failed".
    failedUploadTextDisplay: { mode: "custom" },
    warnBeforeUnload: false,
    thumbnails: { placeholders: { waitingPath: "/demo/file.svg", notAvailablePath: "/demo/file.svg" } },
    callbacks: {
      onSubmitted: (id, name) => record("submitted", id, name),
      onUploadChunkSuccess: (id, chunk) => record("chunk", id, chunk.partIndex),
      onComplete: (id, name, response) => record(response && response.success ? "complete" : "failed", id, response),
      onError: (id, name, reason) => record("error", id, reason),
      onCancel: (id) => record("cancel", id),
      onDeleteComplete: (id, xhr, isError) => record(isError ? "deleteFailed" : "deleted", id, xhr && xhr.responseText),
      onAllComplete: () => record("allComplete"),
    },
  });
  window.demoUploader = uploader;
}
