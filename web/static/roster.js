// The roster import page: while its job runs, poll /api/jobs/<id> with aulaPoll (poll.js: the
// server's Retry-After, If-None-Match) and move the bar; once the job ends, reload the page,
// which renders the report on the server (no HTML built from data here).
"use strict";
(function () {
  function start() {
    if (typeof window.aulaPoll !== "function") return;
    document.querySelectorAll("[data-roster-job]").forEach(function (root) {
      if (root.dataset.finished === "true") return;
      const bar = root.querySelector("[data-job-progress]");
      const state = root.querySelector("[data-job-state]");
      const stop = window.aulaPoll(root.dataset.pollUrl, function (body) {
        const job = body.job;
        if (bar) { bar.value = job.progress; bar.textContent = job.progress + "%"; }
        if (state) { state.textContent = job.state; state.className = "state state-" + job.state; }
        if (["succeeded", "failed", "cancelled"].indexOf(job.state) >= 0) {
          stop();
          window.location.reload();
        }
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
