// The campaigns list, live: SSE from /ui/campaigns/progress into each live row's figures, progress
// bar, pace and estimated finish (the same figures as the stats page; see reports/progress.py).
(function () {
  "use strict";
  var table = document.getElementById("campaigns-table");
  if (!table || !window.EventSource) { return; }
  // The status cell of a live campaign's row (scheduled, active, paused) is marked data-live.
  var rows = [].map.call(table.querySelectorAll("td[data-live]"), function (cell) { return cell.closest("tr"); });
  if (!rows.length) { return; }
  var format = new Intl.NumberFormat();
  var labels = { draft: "Draft", ready: "Ready to Launch", scheduled: "Scheduled", active: "Active", paused: "Paused", ended: "Ended" };

  function pct(value) { return value.toFixed(1).replace(/\.0$/, "") + "%"; }

  // As the page's ``pace`` filter writes it (web/filters.py).
  function pace(perMinute) {
    if (perMinute === null || perMinute === undefined) { return "—"; }
    if (perMinute >= 600) { return format.format(Math.round(perMinute / 60)) + "/s"; }
    if (perMinute >= 10) { return format.format(Math.round(perMinute)) + "/min"; }
    return (Math.round(perMinute * 10) / 10).toString() + "/min";
  }

  function shown(el, value) {
    var kind = el.dataset.format;
    if (kind === "pct") { return pct(value); }
    if (kind === "pace") { return pace(value); }
    if (kind === "time") {
      return new Date(value).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
    return format.format(value);
  }

  function update(row, p) {
    var counted = p.status !== "scheduled";
    var running = row.querySelector("[data-progress-running]");
    if (running) { running.hidden = !counted; }
    row.querySelectorAll("[data-progress]").forEach(function (el) {
      var value = p[el.dataset.progress];
      if (value === undefined) { return; }
      // Until a scheduled campaign starts, its counters stay blank: only its finish is known.
      if (!counted && el.dataset.format !== "time") { return; }
      if (el.dataset.format === "time") {
        var finish = row.querySelector("[data-progress-finish]");
        // A scheduled campaign's finish comes from its audience, counted when the page was built.
        if (value === null && p.status === "scheduled") { return; }
        if (finish) { finish.hidden = value === null; }
        if (value === null) { return; }
        el.setAttribute("datetime", value);
      }
      el.textContent = value === null ? "—" : shown(el, value);
    });
    var bar = row.querySelector("[data-progress-bar]");
    if (bar) { bar.value = p.done_pct; bar.textContent = pct(p.done_pct); }
    var holder = row.querySelector("[data-progress-status]");
    if (holder.dataset.status !== p.status) {
      holder.dataset.status = p.status;
      var badge = document.createElement("span");
      badge.className = "badge badge-" + p.status; badge.textContent = labels[p.status] || p.status;
      holder.replaceChildren(badge);
    }
  }

  var ids = [].map.call(rows, function (row) { return "id=" + encodeURIComponent(row.dataset.campaign); });
  var source = new EventSource("/ui/campaigns/progress?" + ids.join("&"));
  source.addEventListener("progress", function (e) {
    JSON.parse(e.data).forEach(function (p) {
      var row = table.querySelector("tr[data-campaign='" + p.campaign_id + "']");
      if (row) { update(row, p); }
    });
  });
  // Nothing listed is live any more: the server ended the feed, and the browser must not reopen it.
  source.addEventListener("done", function () { source.close(); });
})();
