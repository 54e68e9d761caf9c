// Herald's own bits of behaviour: confirmations, local times, upload progress, and the small handlers
// that live here rather than in the pages (the Content-Security-Policy runs no inline script).
(function () {
  "use strict";

  // Forms marked data-confirm ask before submitting (delete, end, start). A form whose question the
  // server re-renders as it is filled in (the schedule form's estimate) carries it on an element inside.
  function confirmation(form) {
    if (!form.getAttribute) { return null; }
    var inner = form.getAttribute("data-confirm") === null && form.querySelector("[data-confirm]");
    return inner ? inner.getAttribute("data-confirm") : form.getAttribute("data-confirm");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = confirmation(form);
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  function localTimes(root) {
    root.querySelectorAll("time[datetime][data-local]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (!isNaN(date)) {
        el.textContent = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
        el.title = el.getAttribute("datetime");
      }
    });
  }

  // The text of a refusal answered in the API's JSON error shape (a body over the route's limit).
  function errorMessage(request) {
    if ((request.getResponseHeader("Content-Type") || "").indexOf("application/json") !== 0) { return null; }
    try { return JSON.parse(request.responseText).error.message; } catch (e) { return null; }
  }

  // Uploads (CSV import, header media): a real progress bar while the file uploads, the form token
  // in the X-CSRF-Token header (checked before the server reads the file), then the server's
  // summary in the target, or the page it redirects to.
  function importForms(root) {
    root.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
      if (form.dataset.bound) { return; }
      form.dataset.bound = "1";
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var bar = document.getElementById(form.dataset.uploadProgress);
        var status = document.getElementById(form.dataset.uploadStatus);
        var target = form.dataset.uploadTarget ? document.getElementById(form.dataset.uploadTarget) : null;
        var request = new XMLHttpRequest();
        request.open("POST", form.action);
        request.setRequestHeader("X-CSRF-Token", form.querySelector("[name=csrf_token]").value);
        request.setRequestHeader("HX-Request", "true");
        bar.hidden = false; bar.value = 0; status.textContent = "Uploading…";
        request.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) {
            bar.value = Math.round((e.loaded / e.total) * 100);
            status.textContent = bar.value < 100 ? "Uploading… " + bar.value + "%" : "Processing…";
          }
        });
        request.onload = function () {
          var next = request.getResponseHeader("HX-Redirect");
          var refusal = errorMessage(request);
          bar.value = 100;
          if (next) { window.location.assign(next); return; }
          status.textContent = request.status < 400 ? "Done." : "Failed" + (refusal ? ": " + refusal : ".");
          if (target && !refusal) {
            target.innerHTML = request.responseText;
            localTimes(target);
            // The header upload: the message preview (an htmx part listening for changes) redraws with the file.
            var refresh = form.dataset.uploadRefresh && document.getElementById(form.dataset.uploadRefresh);
            if (refresh && request.status < 400) { refresh.dispatchEvent(new Event("change", { bubbles: true })); }
          }
        };
        request.onerror = function () { status.textContent = "The upload failed: check the connection."; };
        request.send(new FormData(form));
      });
    });
  }

  // A select marked data-submit-on-change submits its form as soon as it changes (the Templates filter).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-submit-on-change]") && select.form) {
      select.form.submit();
    }
  });

  // "Go back" links (data-history-back) go back in the tab's history; without one they follow their href.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-history-back]");
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });

  // A variable binding shows only the input its source needs (text, valued tag key, name fallback).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("[data-binding-source]")) { return; }
    select.closest("[data-binding]").querySelectorAll("[data-for-source]").forEach(function (part) {
      part.hidden = part.dataset.forSource !== select.value;
    });
  });

  function init(root) { localTimes(root); importForms(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.target); });
})();
