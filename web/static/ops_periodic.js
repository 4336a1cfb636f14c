// The periodic tasks page: its task cards follow GET /api/ops/periodic, fetched again from this
// page when it changed (ops_live.js); a task whose runs are open stays open.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const live = document.getElementById("periodic-live");
  if (live && window.aulaOpsLive) window.aulaOpsLive(live);
});
