// The browser's time zone, sent once for a user who has none stored (base.html includes this
// only then): the server keeps it only if still none is stored, so it never overrides a choice
// made on the account page. Pages show times in UTC until then, and in the zone from the next page on.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone || !window.fetch || sessionStorage.getItem("aula-tz-sent") === zone) {
    return;
  }
  var token = document.querySelector('meta[name="csrf-token"]');
  fetch("/api/me/time-zone", {
    method: "PUT",
    credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": token ? token.content : ""},
    body: JSON.stringify({time_zone: zone, only_if_unset: true})
  }).then(function (response) {
    // Sent once per tab session whatever the answer (a zone the server does not know is a 400).
    sessionStorage.setItem("aula-tz-sent", zone);
    return response;
  }).catch(function () {});
})();
