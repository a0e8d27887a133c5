/* Progressive enhancement for LeadForm's forms; every page works without it.
   - After a failed submit, move focus to the error summary (or the "submit again" notice),
     so keyboard and screen reader users start where the problems are listed.
   - A summary link focuses its field and scrolls the field's label into view too: a plain
     fragment jump would put the input at the very top and hide its label and message. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  ready(function () {
    var summary = document.getElementById("error-summary") || document.getElementById("form-notice");
    if (!summary) {
      return;
    }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) {
        return;
      }
      var field = document.getElementById(link.getAttribute("href").slice(1));
      if (!field) {
        return;
      }
      event.preventDefault();
      (field.closest(".field") || field).scrollIntoView({ block: "start" });
      field.focus({ preventScroll: true });
    });
  });
})();
