// The periodic tasks page: poll GET /api/ops/periodic with aulaPoll (ETag, Retry-After); when it
// changed, fetch this page again and swap in its task cards (drawn by the template alone).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const live = document.getElementById("periodic-live");
  const status = document.querySelector("[data-live-status]");
  if (!live || !window.aulaPoll) return;
  let first = true;
  let fetching = false;

  async function refresh() {
    if (fetching) return;
    fetching = true;
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("periodic-live");
      if (fresh) {
        const open = new Set(Array.from(live.querySelectorAll("section[data-task] details[open]"),
          function (d) { return d.closest("section").dataset.task; }));
        live.innerHTML = fresh.innerHTML;
        live.querySelectorAll("section[data-task]").forEach(function (section) {
          const details = section.querySelector("details");
          if (details && open.has(section.dataset.task)) details.open = true;
        });
      }
      if (status) status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    } catch (error) {
      if (status) status.textContent = "Could not update (" + error.message + "); retrying.";
    } finally {
      fetching = false;
    }
  }

  window.aulaPoll(live.dataset.pollUrl, function () {
    if (first) { first = false; return; }
    refresh();
  }, {
    onError: function (code) { if (status) status.textContent = "Stopped updating (HTTP " + code + "); reload the page."; }
  });
});
