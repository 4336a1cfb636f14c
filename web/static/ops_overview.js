// The overview: its live part (/ops/overview/live) follows GET /api/ops/overview (ops_live.js).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const live = document.getElementById("ops-live");
  if (live && window.aulaOpsLive) window.aulaOpsLive(live);
});
