// The demo page with Uppy (?client=uppy): Uppy's Dashboard and blobvalet's
// Uppy plugin, served by blobvalet at /client/uppy-blobvalet.js. The import
// map in index.html maps "@uppy/core" to the uppy package's ES module bundle,
// which the plugin imports too. The controls (user, folder, names) belong to
// demo.js; this reads them when a file goes up. ?container=shared sends the
// files to the demo's other container (the folder is then a prefix there).

const params = new URLSearchParams(location.search);

if (params.get("client") === "uppy") {
  const [{ Uppy, Dashboard }, { default: BlobvaletAzure }, demo] = await Promise.all([
    import("@uppy/core"),
    import("/client/uppy-blobvalet.js"),
    fetch("/demo.json").then((r) => r.json()),
  ]);
  const userSelect = document.getElementById("user");
  const folderInput = document.getElementById("folder");
  const keepNames = document.getElementById("keepnames");
  const container = params.get("container");
  const containerUrl = container ? demo.containerUrl.replace(/[^/]+$/, container) : demo.containerUrl;
  const token = () => demo.users.find((u) => u.id === userSelect.value).token;

  // Observed by the browser tests, and handy in the console.
  window.uppyEvents = [];
  window.uppyBlobNames = {};
  const record = (type, id, detail) => window.uppyEvents.push({ type, id, detail });

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
    .use(BlobvaletAzure, {
      containerUrl,
      signatureEndpoint: "/sas",
      successEndpoint: "/success",
      headers: () => ({ Authorization: "Bearer " + token() }),
      blobName: (file) => {
        const dot = file.name.lastIndexOf(".");
        const base = keepNames.checked ? file.name : crypto.randomUUID() + (dot > 0 ? file.name.slice(dot) : "");
        const name = folderInput.value + base;
        window.uppyBlobNames[file.id] = name;
        return name;
      },
    });

  uppy.on("file-added", (file) => record("added", file.id, file.name));
  uppy.on("upload-success", (file, response) => record("success", file.id, { uploadURL: response.uploadURL, ...response.body }));
  uppy.on("upload-error", (file, error) => record("error", file.id, error.message));
  uppy.on("file-removed", (file) => record("removed", file.id));
  uppy.on("complete", (result) => record("complete", "", { successful: result.successful.length, failed: result.failed.length }));
  window.demoUppy = uppy;
}
