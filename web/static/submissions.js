// The student's submit page: files go straight to S3. For each chosen file the page asks the
// API for an upload form (a presigned POST whose policy S3 enforces: this key, this type, this
// size), sends the file with it, then records the submission (PUT) with the files kept and the
// new keys, and reloads; while a file is being checked the page polls the submission (aulaPoll:
// Retry-After, If-None-Match) and shows each file's verdict. Text alone goes by the plain form.
"use strict";
(function () {
  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || ("the server answered " + response.status));
        return data;
      });
    });
  }

  // XMLHttpRequest rather than fetch: it reports upload progress.
  function sendToS3(upload, file, onProgress) {
    return new Promise(function (resolve, reject) {
      const form = new FormData();
      Object.keys(upload.fields).forEach(function (name) { form.append(name, upload.fields[name]); });
      form.append("file", file);  // last: S3 ignores fields after the file
      const request = new XMLHttpRequest();
      request.open("POST", upload.url);
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      request.onload = function () {
        if (request.status >= 200 && request.status < 300) resolve();
        else reject(new Error(file.name + " was refused by the storage (" + request.status + ")"));
      };
      request.onerror = function () { reject(new Error(file.name + " could not be uploaded")); };
      request.send(form);
    });
  }

  function showError(root, message) {
    const node = root.querySelector("[data-script-error]");
    if (node) {
      node.textContent = message;
      node.hidden = !message;
    }
  }

  function submitForm(root, form) {
    const input = form.querySelector("[data-file-input]");
    form.addEventListener("submit", function (event) {
      const files = input ? Array.prototype.slice.call(input.files) : [];
      if (!files.length) return;  // text only: the plain form does it
      event.preventDefault();
      showError(root, "");
      const max = parseInt(root.dataset.maxBytes, 10);
      const tooBig = files.filter(function (f) { return f.size > max; });
      if (tooBig.length) {
        showError(root, tooBig.map(function (f) { return f.name; }).join(", ") + ": larger than the "
          + Math.round(max / 1048576) + " MB a file may have");
        return;
      }
      const button = form.querySelector("button[type=submit]");
      const bar = form.querySelector("[data-upload-progress]");
      const label = form.querySelector("[data-upload-label]");
      if (button) button.disabled = true;
      if (bar) { bar.hidden = false; bar.value = 0; }
      if (label) label.hidden = false;
      const kept = Array.prototype.slice.call(form.querySelectorAll("[data-keep]:checked"))
        .map(function (box) { return box.value; });
      const keys = [];
      let chain = Promise.resolve();
      files.forEach(function (file, index) {
        chain = chain.then(function () {
          return api("POST", root.dataset.uploadsUrl, {filename: file.name}).then(function (data) {
            return sendToS3(data.upload, file, function (share) {
              if (bar) bar.value = Math.round(100 * (index + share) / files.length);
            }).then(function () { keys.push(data.upload.key); });
          });
        });
      });
      chain.then(function () {
        const body = form.querySelector("textarea[name=body]");
        return api("PUT", root.dataset.submissionUrl, {body: body ? body.value : "", files: kept.concat(keys)});
      }).then(function () {
        window.location.assign(window.location.pathname + "?done=1");
      }).catch(function (error) {
        showError(root, error.message);
        if (button) button.disabled = false;
        if (bar) bar.hidden = true;
        if (label) label.hidden = true;
      });
    });
  }

  function followChecks(root) {
    const list = root.querySelector("[data-files]");
    window.aulaPoll(root.dataset.submissionUrl, function (body) {
      if (!body.submission || !list) return;
      body.submission.files.forEach(function (file) {
        const item = list.querySelector('[data-file="' + file.id + '"]');
        if (!item || item.dataset.state === file.state) return;
        item.dataset.state = file.state;
        item.textContent = "";
        let name = document.createTextNode(file.filename);
        if (file.download_url) {
          name = document.createElement("a");
          name.href = file.download_url;
          name.textContent = file.filename;
        }
        item.appendChild(name);
        item.appendChild(document.createTextNode(" "));
        const state = document.createElement("span");
        state.className = "state state-" + file.state;
        state.dataset.fileState = "";
        state.textContent = file.state;
        item.appendChild(state);
        if (file.error) {
          const error = document.createElement("span");
          error.className = "error";
          error.dataset.fileError = "";
          error.textContent = " " + file.error;
          item.appendChild(error);
        }
      });
      root.dataset.finished = body.submission.checked ? "true" : "false";
    });
  }

  function start() {
    document.querySelectorAll("[data-submit-page]").forEach(function (root) {
      const form = root.querySelector("[data-submit-form]");
      if (form) submitForm(root, form);
      if (root.dataset.finished !== "true" && typeof window.aulaPoll === "function") followChecks(root);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
