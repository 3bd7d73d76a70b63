// The explorer's only script. Without it every page is complete; with it:
// - ages (`data-ts`) count up every 10 s;
// - a page whose body lists events in `data-live` ("tip", "tx") follows /api/events and,
//   at most once every 2 s, fetches itself again and swaps in each `data-part` element;
//   if the node refuses the event stream, it does the same every 15 s.
"use strict";
(function () {
  function age(now, then) {
    var ahead = then > now, s = Math.abs(now - then), t;
    if (s < 60) t = s + " s"; else if (s < 3600) t = Math.floor(s / 60) + " min";
    else if (s < 86400) t = Math.floor(s / 3600) + " h"; else t = Math.floor(s / 86400) + " d";
    return ahead ? "in " + t : t + " ago";
  }
  function ages() {
    var now = Math.floor(Date.now() / 1000);
    document.querySelectorAll("[data-ts]").forEach(function (el) {
      el.textContent = age(now, parseInt(el.getAttribute("data-ts"), 10));
    });
  }
  setInterval(ages, 10000);
  var wanted = (document.body.getAttribute("data-live") || "").split(" ").filter(Boolean);
  if (!wanted.length || !window.EventSource) return;
  var POLL_MS = 15000;
  var busy = false, timer = null, last = 0;
  function refresh() {
    if (timer) return;
    timer = setTimeout(run, Math.max(0, last + 2000 - Date.now()));
  }
  function run() {
    timer = null;
    if (busy) { refresh(); return; }
    busy = true; last = Date.now();
    fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("[data-part]").forEach(function (fresh) {
          var old = document.querySelector('[data-part="' + fresh.getAttribute("data-part") + '"]');
          if (old) old.replaceWith(document.importNode(fresh, true));
        });
        ages();
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  // Opened once the page has loaded, so that the open stream never holds up its load event.
  function follow() {
    var events = new EventSource("/api/events");
    wanted.forEach(function (name) { events.addEventListener(name, refresh); });
    events.addEventListener("lagged", refresh);
    // A page left (even into the back-forward cache) gives its connection back at once: a
    // browser holds few connections per host, and the node counts streams per client.
    window.addEventListener("pagehide", function () { events.close(); });
    // A refused stream (the node's stream slots are full: 429 or 503) is not retried by the
    // browser; the page then polls, slowly.
    events.addEventListener("error", function () {
      if (events.readyState === EventSource.CLOSED) setInterval(refresh, POLL_MS);
    });
  }
  if (document.readyState === "complete") follow();
  else window.addEventListener("load", follow);
})();
