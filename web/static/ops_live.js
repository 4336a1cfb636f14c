// The console's live parts, written once: poll a JSON resource with aulaPoll (its ETag and
// Retry-After, so never faster than the server asks) and, when it changed, fetch the
// server-rendered HTML of the part and swap it in, so each part is drawn by its template alone.
// A part with data-live-url fetches that fragment; without one it fetches this page again and
// takes the element of the same id. Keyboard focus and open <details> survive the swap.
// Lists ([data-live-list]) start themselves; they carry data-poll-url on their first page only.
"use strict";
(function () {
  // Something the swap can find again: an id, a link's address or a form's action.
  function keyOf(node) {
    if (!node) return null;
    if (node.id) return "#" + CSS.escape(node.id);
    const link = node.closest("a[href]");
    if (link) return 'a[href="' + CSS.escape(link.getAttribute("href")) + '"]';
    const form = node.closest("form[action]");
    if (form) return 'form[action="' + CSS.escape(form.getAttribute("action")) + '"] button';
    return null;
  }

  function swap(live, html) {
    const focused = document.activeElement && live.contains(document.activeElement) ? keyOf(document.activeElement) : null;
    const open = new Set(Array.from(live.querySelectorAll("[data-live-key] details[open]"),
      function (d) { return d.closest("[data-live-key]").dataset.liveKey; }));
    live.innerHTML = html;
    live.querySelectorAll("[data-live-key]").forEach(function (keyed) {
      const details = keyed.querySelector("details");
      if (details && open.has(keyed.dataset.liveKey)) details.open = true;
    });
    const again = focused ? live.querySelector(focused) : null;
    if (again) again.focus();
  }

  // options.onBody(body): each new JSON body, before the part is fetched again. Returns refresh().
  window.aulaOpsLive = function (live, options) {
    options = options || {};
    const status = document.querySelector("[data-live-status]");
    function say(text) { if (status) status.textContent = text; }
    let fetching = false;

    async function refresh() {
      if (fetching) return;  // a slow fetch: the next change fetches again
      fetching = true;
      try {
        const url = live.dataset.liveUrl || window.location.href;
        const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const html = await response.text();
        if (live.dataset.liveUrl) {
          swap(live, html);
        } else {
          const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(live.id);
          if (fresh) swap(live, fresh.innerHTML);
        }
        say("Updated " + new Date().toLocaleTimeString() + ".");
      } catch (error) {
        say("Could not update (" + error.message + "); retrying.");
      } finally {
        fetching = false;
      }
    }

    if (live.dataset.pollUrl && window.aulaPoll) {
      let first = true;
      window.aulaPoll(live.dataset.pollUrl, function (body) {
        if (options.onBody) options.onBody(body);
        if (first) { first = false; return; }  // the page was rendered from the same figures
        refresh();
      }, {
        onError: function (code) { say("Stopped updating (HTTP " + code + "); reload the page."); }
      });
    }
    return refresh;
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-list][data-poll-url]").forEach(function (list) {
      window.aulaOpsLive(list);
    });
  });
})();
