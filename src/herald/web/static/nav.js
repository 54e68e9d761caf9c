// The main navigation on a narrow screen: app.css folds it behind the Menu button once this script
// runs (without it, the links stay listed), and the button opens and closes it.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var bar = document.querySelector(".topbar");
    var button = bar && bar.querySelector(".nav-toggle");
    if (!button) { return; }

    function show(open) {
      bar.classList.toggle("nav-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }

    bar.classList.add("nav-collapsible");
    button.hidden = false;
    button.addEventListener("click", function () { show(!bar.classList.contains("nav-open")); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && bar.classList.contains("nav-open")) {
        show(false);
        button.focus();
      }
    });
  });
})();
