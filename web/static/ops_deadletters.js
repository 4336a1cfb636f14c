// The dead letters page: poll GET /api/ops/dead-letters with aulaPoll (ETag, Retry-After); when it
// changed, fetch the server-rendered live part (/ops/dead-letters/live: depth, redriven jobs, the
// day's depths) and swap it in. The groups below hold the operator's selection, so they are not
// redrawn: a notice offers to show them again when the queue's messages differ from those drawn.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const live = document.getElementById("dead-letters-live");
  const status = document.querySelector("[data-live-status]");
  const changed = document.querySelector("[data-changed]");
  const drawn = new Set(Array.from(document.querySelectorAll("[data-message]"), function (row) {
    return row.dataset.message;
  }));
  const purge = document.getElementById("purge-form");
  if (purge) {
    purge.addEventListener("submit", function (event) {
      const count = purge.dataset.count;
      if (!window.confirm("Delete all " + count + " messages of the dead-letter queue? This cannot be undone.")) {
        event.preventDefault();
      }
    });
  }
  if (!live || !window.aulaPoll) return;
  let first = true;
  let fetching = false;

  async function refresh() {
    if (fetching) return;
    fetching = true;
    try {
      const response = await fetch(live.dataset.liveUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      live.innerHTML = await response.text();
      if (status) status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    } catch (error) {
      if (status) status.textContent = "Could not update (" + error.message + "); retrying.";
    } finally {
      fetching = false;
    }
  }

  function sameMessages(body) {
    const now = new Set();
    (body.groups || []).forEach(function (group) {
      group.messages.forEach(function (message) { now.add(message.message_id); });
    });
    if (now.size !== drawn.size) return false;
    for (const id of now) if (!drawn.has(id)) return false;
    return true;
  }

  // The jobs just redriven are no longer in the queue, so the look does not change with them:
  // while one of them is unfinished, the live part is fetched again every few seconds.
  const FINISHED = ["succeeded", "failed", "cancelled"];
  function following() {
    return Array.from(live.querySelectorAll("[data-followed-state]")).some(function (state) {
      return FINISHED.indexOf(state.textContent.trim()) < 0;
    });
  }
  (function follow() {
    if (!following()) return;
    setTimeout(function () { refresh().then(follow); }, 2000);
  })();

  window.aulaPoll(live.dataset.pollUrl, function (body) {
    if (changed && body.configured) changed.hidden = sameMessages(body);
    if (first) { first = false; return; }  // the page was rendered from the same look
    refresh();
  }, {
    onError: function (code) { if (status) status.textContent = "Stopped updating (HTTP " + code + "); reload the page."; }
  });
});
