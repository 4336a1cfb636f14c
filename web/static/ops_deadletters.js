// The dead letters page: its live part (/ops/dead-letters/live: depth, redriven jobs, the day's
// depths) follows GET /api/ops/dead-letters (ops_live.js). The groups and the purge form are
// drawn again from this page when the queue's messages differ from those drawn, unless the
// operator is choosing there (a box ticked, the focus inside): then a notice offers to reload.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const live = document.getElementById("dead-letters-live");
  const groups = document.getElementById("dead-letters-groups");
  let drawn = messagesDrawn();
  document.addEventListener("submit", function (event) {
    const purge = event.target.closest("#purge-form");
    if (purge && !window.confirm("Delete all " + purge.dataset.count + " messages of the dead-letter queue? This cannot be undone.")) {
      event.preventDefault();
    }
  });
  if (!live || !window.aulaOpsLive) return;

  function messagesDrawn() {
    return new Set(Array.from(document.querySelectorAll("[data-message]"), function (row) { return row.dataset.message; }));
  }
  function sameMessages(body) {
    const now = new Set();
    (body.groups || []).forEach(function (group) {
      group.messages.forEach(function (message) { now.add(message.message_id); });
    });
    return now.size === drawn.size && Array.from(now).every(function (id) { return drawn.has(id); });
  }
  const redrawGroups = groups ? window.aulaOpsLive(groups) : null;
  function choosing() {
    return groups.querySelector("input:checked") !== null || groups.contains(document.activeElement);
  }

  const refresh = window.aulaOpsLive(live, {
    onBody: function (body) {
      if (!groups || !body.configured || sameMessages(body)) return;
      const changed = groups.querySelector("[data-changed]");
      if (choosing()) {
        if (changed) changed.hidden = false;
      } else {
        redrawGroups().then(function () { drawn = messagesDrawn(); });
      }
    }
  });

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
});
