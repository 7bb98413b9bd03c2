// The demo page: Fine Uploader Azure wired to blobvalet (everything a real
// page needs is in the qq.azure.FineUploader call), and the demo's controls.
// With ?client=uppy the page uses Uppy instead (uppy-demo.js).
"use strict";

(async function () {
  const demo = await (await fetch("/demo.json")).json();
  const params = new URLSearchParams(location.search);
  const userSelect = document.getElementById("user");
  const folderInput = document.getElementById("folder");
  const keepNames = document.getElementById("keepnames");
  const hint = document.getElementById("hint");
  const clientSelect = document.getElementById("client");
  const client = params.get("client") === "uppy" ? "uppy" : "fine-uploader";

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
    thumbnails: {
      placeholders: {
        waitingPath: "/demo/file.svg",
        notAvailablePath: "/demo/file.svg",
      },
    },
    callbacks: {
      onSubmitted: (id, name) => record("submitted", id, name),
      onUploadChunkSuccess: (id, chunk) => record("chunk", id, chunk.partIndex),
      onComplete: (id, name, response, xhr) => record(response && response.success ? "complete" : "failed", id, response),
      onError: (id, name, reason) => record("error", id, reason),
      onCancel: (id) => record("cancel", id),
      onDeleteComplete: (id, xhr, isError) => record(isError ? "deleteFailed" : "deleted", id),
      onAllComplete: () => record("allComplete"),
    },
  });
})();
