// Live progress for the teacher's activity page and every job page. Both poll their JSON twin
// with aulaPoll (poll.js): the server's Retry-After is the interval, If-None-Match makes an
// unchanged answer a 304, and polling stops once the server sends no Retry-After (finished).
"use strict";
(function () {
  function text(root, selector, value) {
    const node = root.querySelector(selector);
    if (node) node.textContent = String(value);
    return node;
  }

  function activityPage(root) {
    const bar = root.querySelector("[data-batch-progress]");
    const status = root.querySelector("[data-batch-status]");
    window.aulaPoll(root.dataset.pollUrl, function (body) {
      const batch = body.batch;
      const total = batch ? batch.total : body.students;
      const done = batch ? batch.succeeded + batch.failed : 0;
      text(root, "[data-batch-sent]", batch ? batch.succeeded : 0);
      text(root, "[data-batch-failed]", batch ? batch.failed : 0);
      text(root, "[data-batch-total]", total);
      if (bar) {
        bar.max = total || 1;
        bar.value = total ? done : (batch && batch.completed_at ? 1 : 0);
        bar.textContent = done + " of " + total;
      }
      if (status) status.textContent = body.status;
      const summary = root.querySelector("[data-summary]");
      if (summary && body.summary) {
        summary.textContent = body.summary;
        summary.hidden = false;
      }
      root.dataset.finished = body.finished ? "true" : "false";
    });
  }

  function jobPage(root) {
    const bar = root.querySelector("[data-job-progress]");
    window.aulaPoll(root.dataset.pollUrl, function (body) {
      const job = body.job;
      const state = text(root, "[data-job-state]", job.state);
      if (state) state.className = "state state-" + job.state;
      if (bar) {
        bar.value = job.progress;
        bar.textContent = job.progress + "%";
      }
      const error = root.querySelector("[data-job-error]");
      if (error) {
        error.textContent = job.error || "";
        error.hidden = !job.error || job.state === "succeeded";
      }
      const url = job.result && job.result.download_url;
      const wrap = root.querySelector("[data-download-wrap]");
      const link = root.querySelector("a[data-download]");
      if (wrap && link && job.state === "succeeded" && url) {
        link.href = url;
        if (job.result.filename) link.textContent = "Download " + job.result.filename;
        wrap.hidden = false;
      }
      const terminal = ["succeeded", "failed", "cancelled"].indexOf(job.state) >= 0;
      const cancel = root.querySelector("[data-cancel-form]");
      if (cancel) cancel.hidden = terminal;
      root.dataset.finished = terminal ? "true" : "false";
    });
  }

  function start() {
    if (typeof window.aulaPoll !== "function") return;
    document.querySelectorAll("[data-activity-page]").forEach(function (root) {
      if (root.dataset.finished !== "true") activityPage(root);
    });
    document.querySelectorAll("[data-job-page]").forEach(function (root) {
      if (root.dataset.finished !== "true") jobPage(root);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
