// The overview: poll GET /api/ops/overview with aulaPoll (ETag, Retry-After) and, when it
// changed, fetch the server-rendered live part (/ops/overview/live) and swap it in, so the
// charts and tables are drawn in one place only (the templates). Nothing loads from elsewhere.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const live = document.getElementById("ops-live");
  const status = document.querySelector("[data-live-status]");
  if (!live || !window.aulaPoll) return;
  let first = true;
  let fetching = false;

  async function refresh() {
    if (fetching) return;  // a slow fragment: the next change fetches again
    fetching = true;
    try {
      const response = await fetch(live.dataset.liveUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const html = await response.text();
      // Keep the keyboard where it was: a focused button is found again by its form's action.
      const focused = document.activeElement && live.contains(document.activeElement) ?
        document.activeElement.closest("form") : null;
      const action = focused ? focused.getAttribute("action") : null;
      live.innerHTML = html;
      if (action) {
        const again = live.querySelector('form[action="' + CSS.escape(action) + '"] button');
        if (again) again.focus();
      }
      if (status) status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    } catch (error) {
      if (status) status.textContent = "Could not update (" + error.message + "); retrying.";
    } finally {
      fetching = false;
    }
  }

  window.aulaPoll(live.dataset.pollUrl, function () {
    if (first) { first = false; return; }  // the page was rendered from the same figures
    refresh();
  }, {
    onError: function (code) { if (status) status.textContent = "Stopped updating (HTTP " + code + "); reload the page."; }
  });
});
