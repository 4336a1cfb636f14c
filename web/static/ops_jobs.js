// The console's jobs pages: a confirmation before each action, a job's page kept live while it
// is unfinished (GET /api/ops/jobs/<id> through aulaPoll: ETag and Retry-After), and its log lines
// fetched from CloudWatch Logs Insights after the page has loaded (the query takes seconds).
"use strict";
(function () {
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  function text(root, selector, value) {
    const node = root.querySelector(selector);
    if (node && value !== undefined && value !== null) node.textContent = String(value);
  }

  function follow(section) {
    if (section.dataset.finished === "true" || !window.aulaPoll) return;
    const state = section.dataset.state, attempts = section.dataset.attempts;
    window.aulaPoll(section.dataset.pollUrl, function (job) {
      const badge = section.querySelector("[data-job-state]");
      if (badge) { badge.textContent = job.state; badge.className = "state state-" + job.state; }
      text(section, "[data-job-attempts]", job.attempts);
      const bar = section.querySelector("[data-job-progress]");
      if (bar) bar.value = job.bulk ? job.bulk.percent : job.progress;
      if (job.bulk) {
        for (const key of ["done", "total", "percent", "changed", "already", "invalid"]) {
          text(section, "[data-bulk-" + key + "]", job.bulk[key]);
        }
      }
      // A new attempt, a new state or the end: the page's tables (attempts, lineage) change too.
      // A pause or a resume changes why it waits.
      if (job.finished || job.state !== state || String(job.attempts) !== attempts ||
          Boolean(job.paused) !== (section.dataset.paused === "true")) window.location.reload();
    });
  }

  function showLogs(section) {
    const url = section.dataset.logsUrl;
    if (!url) return;
    const status = section.querySelector("[data-logs-status]"), into = section.querySelector("[data-logs-lines]");
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (logs) {
        status.textContent = logs.status === "complete" ? logs.lines.length + " line(s)." :
          logs.status === "incomplete" ? "The query had not finished; what it found so far:" :
          (logs.error || "The query failed.");
        if (!logs.lines.length) return;
        const table = document.createElement("table");
        const head = table.createTHead().insertRow();
        for (const label of ["Time", "Level", "Attempt", "Message"]) {
          const th = document.createElement("th"); th.scope = "col"; th.textContent = label; head.appendChild(th);
        }
        const body = table.createTBody();
        for (const line of logs.lines) {
          const row = body.insertRow();
          for (const value of [line.timestamp, line.level, line.attempt, line.message]) {
            row.insertCell().textContent = value === null ? "" : value;  // text only: never HTML from a log
          }
        }
        into.appendChild(table);
      })
      .catch(function () { status.textContent = "The log lines could not be fetched."; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-ops-job]").forEach(follow);
    document.querySelectorAll("[data-job-logs]").forEach(showLogs);
  });
})();
