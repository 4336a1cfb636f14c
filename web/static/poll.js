// Polls a job (or workflow, or batch) resource the way the API asks: wait the server's
// Retry-After between requests, send If-None-Match so an unchanged resource costs a 304, and
// stop once the resource is finished (the server stops sending Retry-After).
"use strict";
window.aulaPoll = function (url, onChange, options) {
  options = options || {};
  let etag = null;
  let stopped = false;
  async function tick() {
    if (stopped) return;
    let wait = 2;
    try {
      const headers = { "Accept": "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const response = await fetch(url, { headers: headers, credentials: "same-origin" });
      const retryAfter = response.headers.get("Retry-After");
      if (response.status === 200) {
        etag = response.headers.get("ETag");
        onChange(await response.json());
      } else if (response.status !== 304) {
        if (options.onError) options.onError(response.status);
        return;
      }
      if (retryAfter === null) return;  // finished: nothing more will change
      wait = Math.max(1, parseInt(retryAfter, 10) || 2);
    } catch (error) {
      wait = 5;  // the network blipped; try again a little later
    }
    setTimeout(tick, wait * 1000);
  }
  tick();
  return function stop() { stopped = true; };
};
