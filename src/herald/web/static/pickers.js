// Pickers of the forms: a search over a long checkbox list (the audience's tags), more valued tag
// clauses on demand, and the browser's own timezone as the schedule form's default.
(function () {
  "use strict";

  // A fieldset marked data-picker: typing in its search shows only the items whose name contains
  // the text; an item checked stays shown, so a choice never disappears from view.
  function filterPicker(picker) {
    var search = picker.querySelector("[data-picker-search]");
    var text = search.value.trim().toLowerCase();
    var items = picker.querySelectorAll("[data-picker-item]");
    var shown = 0, chosen = 0, matched = 0;
    items.forEach(function (item) {
      var checked = item.querySelector("input:checked") !== null;
      var match = !text || item.dataset.name.indexOf(text) !== -1;
      item.hidden = !(match || checked);
      if (match) { matched += 1; }
      if (!item.hidden) { shown += 1; }
      if (checked) { chosen += 1; }
    });
    var status = picker.querySelector("[data-picker-status]");
    var total = items.length + (items.length === 1 ? " tag" : " tags");
    status.textContent = (text ? shown + " of " + total + " shown" : total) + (chosen ? ", " + chosen + " chosen" : "");
    picker.querySelector("[data-picker-none]").hidden = matched !== 0;
  }

  document.addEventListener("input", function (event) {
    var search = event.target;
    if (!search.matches || !search.matches("[data-picker-search]")) { return; }
    event.stopPropagation();  // a search is not a change of the audience: no preview request
    filterPicker(search.closest("[data-picker]"));
  }, true);

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.closest) { return; }
    if (target.matches("[data-picker-search]")) { event.stopPropagation(); return; }
    var picker = target.closest("[data-picker]");
    if (picker) { filterPicker(picker); }
  }, true);

  // Enter in a search filters; it does not submit the form.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches && event.target.matches("[data-picker-search]")) {
      event.preventDefault();
    }
  });

  // "Add another valued tag": a copy of the row template, its ids made unique.
  var added = 0;
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-vt-add]");
    if (!button) { return; }
    var fieldset = button.closest("fieldset");
    var template = fieldset.querySelector("template");
    var rows = fieldset.querySelector("[data-vt-rows]");
    added += 1;
    var suffix = "new" + added;
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/NEW/g, suffix);
    var row = holder.firstElementChild;
    rows.appendChild(row);
    if (window.htmx) { window.htmx.process(row); }
    row.querySelector("[data-vt-key]").focus();
  });

  // The schedule form starts in the browser's own timezone when none is chosen yet.
  function defaultTimezone(root) {
    root.querySelectorAll("input[data-default-timezone]").forEach(function (input) {
      if (input.value) { return; }
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone) {
        input.value = zone;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { defaultTimezone(document); });
})();
