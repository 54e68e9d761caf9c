// Live campaign stats: SSE from /ui/campaigns/{id}/events into fixed-width number boxes and two charts.
(function () {
  "use strict";
  var script = document.getElementById("stats-script");
  var campaignId = script.dataset.campaign;
  var initial = JSON.parse(document.getElementById("stats-initial").textContent);
  var format = new Intl.NumberFormat();
  var labels = { draft: "Draft", ready: "Ready to Launch", scheduled: "Scheduled", active: "Active", paused: "Paused", ended: "Ended" };
  var funnelChart = null, sendsChart = null, stepsChart = null;
  var outcomes = ["targeted", "sent", "received", "read", "replied"];
  var steps = initial.steps || [];

  function funnelData(s) { return [s.targeted, s.sent, s.received, s.read, s.replied]; }

  // The contacts behind a number: /ui/campaigns/{id}/contacts?outcome=… (or reason=…, step=…).
  function contactsUrl(name, value) {
    return "/ui/campaigns/" + campaignId + "/contacts?" + name + "=" + encodeURIComponent(value);
  }

  // A click on a bar opens its contacts; the pointer says the bars can be clicked.
  function opensBars(urlOf) {
    return {
      onClick: function (event, elements) {
        if (elements.length) { window.location.assign(urlOf(elements[0].index)); }
      },
      onHover: function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      }
    };
  }

  function makeCharts() {
    if (!window.Chart) { return; }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#1d2733";
    funnelChart = new Chart(document.getElementById("funnel-chart"), {
      type: "bar",
      data: { labels: ["Targeted", "Sent", "Received", "Read", "Replied"],
              datasets: [{ label: "Contacts", data: funnelData(initial.stats), backgroundColor: ["#5b6b7a", "#0b5cad", "#0b6e4f", "#1a9e5c", "#7a3fb8"] }] },
      options: Object.assign({ maintainAspectRatio: false, animation: { duration: 300 }, plugins: { legend: { display: false } },
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
                 opensBars(function (i) { return contactsUrl("outcome", outcomes[i]); }))
    });
    stepsChart = new Chart(document.getElementById("steps-chart"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "Contacts", data: [], backgroundColor: "#7a3fb8" }] },
      options: Object.assign({ indexAxis: "y", maintainAspectRatio: false, animation: { duration: 300 },
                 plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
                 opensBars(function (i) { return contactsUrl("step", steps[i].step); }))
    });
    updateSteps(steps);
    sendsChart = new Chart(document.getElementById("sends-chart"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "Sends per minute", data: [], backgroundColor: "#0b5cad" }] },
      options: { maintainAspectRatio: false, animation: { duration: 300 }, plugins: { legend: { display: false } },
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
    updateSends(initial.sends);
  }

  function updateStats(s) {
    document.querySelectorAll("[data-stat]").forEach(function (el) {
      var value = s[el.dataset.stat];
      if (value === undefined) { return; }
      el.textContent = el.dataset.format === "pct" ? value.toFixed(1).replace(/\.0$/, "") + "%" : format.format(value);
    });
    // The funnel's links under the chart: the same counters.
    document.querySelectorAll("[data-funnel-stat]").forEach(function (el) {
      var value = s[el.dataset.funnelStat];
      if (value !== undefined) { el.textContent = format.format(value); }
    });
    var body = document.getElementById("reasons-body");
    var reasons = Object.entries(s.not_sent_reasons || {});
    body.replaceChildren.apply(body, reasons.length ? reasons.map(function (pair) {
      var row = document.createElement("tr");
      var reason = document.createElement("td");
      var link = document.createElement("a"); link.href = contactsUrl("reason", pair[0]); link.textContent = pair[0];
      reason.append(link);
      var count = document.createElement("td"); count.className = "num"; count.textContent = format.format(pair[1]);
      row.append(reason, count);
      return row;
    }) : [(function () {
      var row = document.createElement("tr"); var cell = document.createElement("td");
      cell.colSpan = 2; cell.className = "muted"; cell.textContent = "Nobody so far."; row.append(cell); return row;
    })()]);
    if (funnelChart) { funnelChart.data.datasets[0].data = funnelData(s); funnelChart.update(); }
    updateWaiting(s);
  }

  // "150 waiting: messaging limit 250/24 h reached; next send at 14:32" (local time).
  function updateWaiting(s) {
    var line = document.getElementById("waiting");
    if (!line) { return; }
    var parts = Object.entries(s.waiting_reasons || {}).map(function (pair) {
      return format.format(pair[1]) + " waiting: " + pair[0];
    });
    var text = parts.join(" · ");
    if (text && s.next_send_at) {
      text += "; next send at " + new Date(s.next_send_at).toLocaleString(undefined,
        { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    }
    line.textContent = text;
    line.hidden = !text;
  }

  // The bot's funnel steps: the chart, and the table of numbers whose steps open their contacts.
  function updateSteps(list) {
    steps = list;
    document.getElementById("steps-empty").hidden = list.length > 0;
    document.getElementById("steps-body").hidden = list.length === 0;
    var rows = document.getElementById("steps-rows");
    rows.replaceChildren.apply(rows, list.map(function (step) {
      var row = document.createElement("tr");
      var name = document.createElement("td");
      var link = document.createElement("a"); link.href = contactsUrl("step", step.step); link.textContent = step.step;
      name.append(link);
      var count = document.createElement("td"); count.className = "num"; count.textContent = format.format(step.contacts);
      row.append(name, count);
      return row;
    }));
    if (stepsChart) {
      stepsChart.data.labels = list.map(function (step) { return step.step; });
      stepsChart.data.datasets[0].data = list.map(function (step) { return step.contacts; });
      stepsChart.update();
    }
  }

  // As the pages' ``pace`` and ``pct`` filters write them (web/filters.py).
  function pace(perMinute) {
    if (perMinute === null || perMinute === undefined) { return "—"; }
    if (perMinute >= 600) { return format.format(Math.round(perMinute / 60)) + "/s"; }
    if (perMinute >= 10) { return format.format(Math.round(perMinute)) + "/min"; }
    return (Math.round(perMinute * 10) / 10).toString() + "/min";
  }

  function pct(value) { return value.toFixed(1).replace(/\.0$/, "") + "%"; }

  // The sending section: shown while the campaign is active or paused.
  function updateProgress(p) {
    var section = document.getElementById("progress-section");
    if (!p) { return; }
    section.hidden = ["active", "paused"].indexOf(p.status) < 0;
    var bar = document.getElementById("send-progress");
    bar.value = p.done_pct; bar.textContent = pct(p.done_pct);
    section.querySelectorAll("[data-progress]").forEach(function (el) {
      var value = p[el.dataset.progress];
      if (el.dataset.format === "time") {
        document.getElementById("eta").hidden = !value;
        if (!value) { return; }
        el.setAttribute("datetime", value);
        el.textContent = new Date(value).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
        return;
      }
      el.textContent = el.dataset.format === "pct" ? pct(value) : el.dataset.format === "pace" ? pace(value) : format.format(value);
    });
  }

  // The quality breaker's gauges (the macro breaker_gauges in macros.html writes the same words).
  function figure(value) { return value.toFixed(1).replace(/\.0$/, ""); }
  function updateBreaker(b) {
    var list = document.getElementById("breaker-gauges");
    if (!b || !list) { return; }
    var sends = document.querySelector("[data-breaker=window_sends]");
    if (sends) { sends.textContent = format.format(b.window_sends); }
    b.gauges.forEach(function (g) {
      var item = document.getElementById("gauge-" + g.rule);
      if (!item) { return; }
      var unit = g.unit === "%" ? " %" : "";
      var text = figure(g.value) + unit + (g.threshold === null ? " (rule off)" : " of " + figure(g.threshold) + unit + " limit");
      if (g.tripped) { text += " — tripped"; } else if (!g.judged) { text += " — judged from " + b.min_sends + " sends"; }
      document.getElementById("gauge-" + g.rule + "-text").textContent = text;
      var meter = document.getElementById("gauge-" + g.rule + "-meter");
      meter.value = g.threshold ? Math.min(g.value, g.threshold) : 0;
      meter.textContent = g.value;
      item.classList.toggle("gauge-tripped", g.tripped);
    });
  }

  function updateSends(sends) {
    if (!sendsChart) { return; }
    sendsChart.data.labels = sends.map(function (p) {
      return new Date(p.minute).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    });
    sendsChart.data.datasets[0].data = sends.map(function (p) { return p.count; });
    sendsChart.update();
  }

  function updateStatus(c) {
    var holder = document.getElementById("campaign-status");
    holder.innerHTML = "";
    var badge = document.createElement("span");
    badge.className = "badge badge-" + c.status; badge.textContent = labels[c.status] || c.status;
    holder.append(badge);
    var toggle = function (id, show) { var el = document.getElementById(id); if (el) { el.hidden = !show; } };
    toggle("action-pause", c.status === "active");
    toggle("action-resume", c.status === "paused");
    toggle("action-end", ["active", "paused", "scheduled"].indexOf(c.status) >= 0);
    var reason = document.getElementById("status-reason");
    reason.textContent = c.reason || ""; reason.hidden = !c.reason;
  }

  // Live only while the campaign runs or is scheduled (data-live): an ended campaign's numbers no
  // longer move, and the page says "Not running" rather than "Live". A campaign that ends while the
  // page is open stops its feed the same way.
  function connect() {
    if (!window.EventSource || script.dataset.live !== "true") { return; }
    var dot = document.getElementById("live-dot"), text = document.getElementById("live-text");
    var source = new EventSource("/ui/campaigns/" + campaignId + "/events");
    source.addEventListener("open", function () { dot.classList.add("on"); text.textContent = "Live"; });
    source.addEventListener("error", function () { dot.classList.remove("on"); text.textContent = "Reconnecting…"; });
    source.addEventListener("stats", function (e) { var s = JSON.parse(e.data); updateStats(s); updateBreaker(s.breaker); });
    source.addEventListener("sends", function (e) { updateSends(JSON.parse(e.data)); });
    source.addEventListener("steps", function (e) { updateSteps(JSON.parse(e.data)); });
    source.addEventListener("progress", function (e) { updateProgress(JSON.parse(e.data)); });
    source.addEventListener("campaign", function (e) {
      var campaign = JSON.parse(e.data);
      updateStatus(campaign);
      if (campaign.status === "ended") {
        source.close(); dot.classList.remove("on"); text.textContent = "Not running";
      }
    });
  }

  makeCharts();
  connect();
})();
