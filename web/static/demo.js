// The demo page: Fine Uploader Azure wired to blobvalet (everything a real
// page needs is in the qq.azure.FineUploader call), and the demo's controls.
// With ?client=traditional it is Fine Uploader's traditional build, sending
// the files through blobvalet's /upload (the qq.FineUploader call); with
// ?client=uppy it is Uppy (uppy-demo.js).
"use strict";

(async function () {
  const demo = await (await fetch("/demo.json")).json();
  const params = new URLSearchParams(location.search);
  const userSelect = document.getElementById("user");
  const folderInput = document.getElementById("folder");
  const keepNames = document.getElementById("keepnames");
  const hint = document.getElementById("hint");
  const clientSelect = document.getElementById("client");
  const client = ["uppy", "traditional"].includes(params.get("client")) ? params.get("client") : "fine-uploader";

  for (const u of demo.users) {
    const opt = document.createElement("option");
    opt.value = u.id;
    opt.textContent = u.id;
    userSelect.appendChild(opt);
  }
  userSelect.value = params.get("user") || demo.users[0].id;
  folderInput.value = params.get("folder") || "users/" + userSelect.value + "/";
  keepNames.checked = params.get("names") === "original";

  const token = () => demo.users.find((u) => u.id === userSelect.value).token;
  const auth = () => ({ Authorization: "Bearer " + token() });

  // Observed by the browser tests, and handy in the console.
  window.demoEvents = [];
  const record = (type, id, detail) => window.demoEvents.push({ type, id, detail });

  function showHint() {
    const own = "users/" + userSelect.value + "/";
    hint.textContent = folderInput.value === own
      ? "Files go to uploads/" + own + "."
      : "This folder is not " + userSelect.value + "'s own: blobvalet will refuse to sign uploads there.";
    hint.className = folderInput.value === own ? "hint" : "hint warn";
  }

  userSelect.addEventListener("change", () => {
    folderInput.value = "users/" + userSelect.value + "/";
    showHint();
  });
  folderInput.addEventListener("input", showHint);
  showHint();

  // The client switch reloads the page with the other uploader.
  clientSelect.value = client;
  clientSelect.addEventListener("change", () => {
    params.set("client", clientSelect.value);
    location.search = params.toString();
  });
  if (client === "uppy") {
    return;
  }
  // The two Fine Uploader builds each define window.qq: load only one.
  await new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = client === "traditional"
      ? "/vendor/fine-uploader-traditional/fine-uploader.min.js"
      : "/vendor/fine-uploader/azure.fine-uploader.min.js";
    s.onload = resolve;
    s.onerror = reject;
    document.head.appendChild(s);
  });

  const thumbnails = { placeholders: { waitingPath: "/demo/file.svg", notAvailablePath: "/demo/file.svg" } };
  const callbacks = {
    onSubmitted: (id, name) => record("submitted", id, name),
    onUploadChunkSuccess: (id, chunk) => record("chunk", id, chunk.partIndex),
    onComplete: (id, name, response, xhr) => record(response && response.success ? "complete" : "failed", id, response),
    onError: (id, name, reason) => record("error", id, reason),
    onCancel: (id) => record("cancel", id),
    onResume: (id) => record("resume", id),
    onDeleteComplete: (id, xhr, isError) => record(isError ? "deleteFailed" : "deleted", id),
    onAllComplete: () => record("allComplete"),
  };

  if (client === "traditional") {
    folderInput.disabled = keepNames.disabled = true;
    hint.textContent = "Files go through blobvalet to " + (params.get("container") || "uploads") + "/users/" + userSelect.value + "/<uuid>.";
    // Everything a page needs for the traditional endpoint. Headers must
    // be objects (a function is ignored), so they are set again when the
    // user changes; delete has headers of its own.
    const container = params.get("container");
    const uploader = new qq.FineUploader({
      element: document.getElementById("uploader"),
      template: "qq-template",
      request: {
        endpoint: "/upload",
        customHeaders: auth(),
        params: container ? { container } : {},
        // ?raw=on sends each chunk as the body, its params in the query.
        paramsInBody: params.get("raw") !== "on",
        forceMultipart: params.get("raw") !== "on",
      },
      chunking: {
        enabled: true,
        partSize: Number(params.get("partSize")) || 4000000,
        concurrent: { enabled: true },
        // Required: without it the server never learns that a file is complete.
        success: { endpoint: "/upload/done" },
      },
      resume: {
        enabled: true,
        recordsExpireIn: 1,
        // Who uploads, and which file: a name and a size alone would resume
        // another file's parts.
        customKeys: (id) => [userSelect.value, String(uploader.getFile(id).lastModified)],
      },
      retry: { enableAuto: true, maxAutoAttempts: 5, autoAttemptDelay: 1, showButton: true },
      deleteFile: { enabled: true, endpoint: "/upload", customHeaders: auth(), params: container ? { container } : {}, forceConfirm: false },
      debug: params.get("debug") === "on",
      // Show the server's reason for a failed file, not "Upload failed".
      failedUploadTextDisplay: { mode: "custom" },
      cors: { expected: false },
      warnBeforeUnload: false,
      thumbnails,
      callbacks,
    });
    userSelect.addEventListener("change", () => {
      uploader.setCustomHeaders(auth());
      uploader.setDeleteFileCustomHeaders(auth());
    });
    window.demoUploader = uploader;
    return;
  }

  window.demoUploader = new qq.azure.FineUploader({
    element: document.getElementById("uploader"),
    template: "qq-template",
    request: { endpoint: demo.containerUrl },
    signature: { endpoint: "/sas", customHeaders: auth },
    // ?success=off leaves the upload-success request out, as a careless or
    // hostile page would: the upload then never reaches its final name.
    uploadSuccess: params.get("success") === "off" ? {} : { endpoint: "/success", customHeaders: auth },
    blobProperties: {
      // Fine Uploader 5.16.2 needs a qq.Promise here.
      name: function (id) {
        const file = this.getName(id);
        const dot = file.lastIndexOf(".");
        const base = keepNames.checked ? file : this.getUuid(id) + (dot > 0 ? file.slice(dot) : "");
        return new qq.Promise().success(folderInput.value + base);
      },
    },
    chunking: { enabled: true, concurrent: { enabled: true } },
    retry: { enableAuto: true, maxAutoAttempts: 2, showButton: true },
    deleteFile: { enabled: true, forceConfirm: false },
    thumbnails,
    callbacks,
  });
})();
