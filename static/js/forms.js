/* Progressive enhancement for LeadForm's forms; every page works without it.
   - After a failed submit, move focus to the error summary (or the "submit again" notice),
     so keyboard and screen reader users start where the problems are listed.
   - A summary link focuses its field and scrolls the field's label into view too: a plain
     fragment jump would put the input at the very top and hide its label and message.
   - The postal code's label follows the country ("ZIP code" for the US, else "Postal code"),
     as the server renders it for the country sent.
   - A mistyped email domain ("gmial.con") gets a "Did you mean ...?" hint on leaving the
     field, with a button that puts the suggestion in; the address is never changed unasked.
     The same rules as leadform/core/intake/email_typos.py, with its tables from the page. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  function focusErrorSummary() {
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
  }

  function postalLabelFollowsCountry(form) {
    var country = form.querySelector("select[name='country']");
    var postal = form.querySelector("input[name='postal_code']");
    var label = postal && form.querySelector("label[for='" + postal.id + "']");
    if (!country || !label) {
      return;
    }
    var zipCountries = (form.getAttribute("data-zip-countries") || "US").split(" ");
    country.addEventListener("change", function () {
      var code = country.value || "US";
      label.textContent = zipCountries.indexOf(code) >= 0 ? "ZIP code" : "Postal code";
    });
  }

  // Insertions, deletions, substitutions and swaps of two neighbours (optimal string alignment).
  function editDistance(a, b) {
    var rows = [];
    for (var i = 0; i <= a.length; i++) {
      rows.push([i]);
      for (var j = 1; j <= b.length; j++) {
        if (i === 0) {
          rows[i].push(j);
          continue;
        }
        var cost = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
        var best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && a.charAt(i - 1) === b.charAt(j - 2) && a.charAt(i - 2) === b.charAt(j - 1)) {
          best = Math.min(best, rows[i - 2][j - 2] + 1);
        }
        rows[i].push(best);
      }
    }
    return rows[a.length][b.length];
  }

  function splitDomain(domain) {
    var dot = domain.lastIndexOf(".");
    return [domain.slice(0, dot), domain.slice(dot + 1)];
  }

  function suggestDomain(domain, data) {
    domain = domain.trim().toLowerCase();
    if (domain.indexOf(".") < 0 || data.domains.indexOf(domain) >= 0) {
      return null;
    }
    var labels = domain.split(".");
    var last = labels[labels.length - 1];
    if (labels.length >= 2 && data.variants.indexOf(labels[0]) >= 0 && /^[a-z]{2}$/.test(last) &&
        (labels.length > 2 || data.cutShort.indexOf(last) < 0)) {
      return null;  // a provider's country domain: yahoo.fr, hotmail.co.uk
    }
    var parts = splitDomain(domain);
    var best = null;
    var bestDistance = 0;
    data.domains.forEach(function (popular) {
      var other = splitDomain(popular);
      var nameDistance = editDistance(parts[0], other[0]);
      if (2 * nameDistance >= parts[0].length) {
        return;
      }
      var distance = nameDistance + editDistance(parts[1], other[1]);
      if (distance <= data.max && (best === null || distance < bestDistance)) {
        best = popular;
        bestDistance = distance;
      }
    });
    if (best !== null) {
      return best;
    }
    if (parts[0] && Object.prototype.hasOwnProperty.call(data.tlds, parts[1])) {
      return parts[0] + "." + data.tlds[parts[1]];
    }
    return null;
  }

  function suggestEmail(address, data) {
    address = address.trim();
    var at = address.lastIndexOf("@");
    if (at < 1 || at === address.length - 1 || /\s/.test(address)) {
      return null;
    }
    var domain = suggestDomain(address.slice(at + 1), data);
    return domain ? address.slice(0, at + 1) + domain : null;
  }

  function emailHints(form) {
    var hint = form.querySelector("#email-hint");
    var email = form.querySelector("input[name='email']");
    if (!hint || !email) {
      return;
    }
    var data;
    try {
      data = JSON.parse(hint.getAttribute("data-hint"));
    } catch (e) {
      return;
    }

    function describedBy(on) {
      var ids = (email.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id !== hint.id;
      });
      if (on) {
        ids.push(hint.id);
      }
      if (ids.length) {
        email.setAttribute("aria-describedby", ids.join(" "));
      } else {
        email.removeAttribute("aria-describedby");
      }
    }

    function show(suggestion) {
      hint.textContent = "";
      hint.classList.toggle("has-hint", Boolean(suggestion));
      describedBy(Boolean(suggestion));
      if (!suggestion) {
        return;
      }
      var text = document.createElement("span");
      text.className = "email-hint-text";
      var strong = document.createElement("strong");
      strong.textContent = suggestion;
      text.append("Did you mean ", strong, "?");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-sm btn-outline-primary email-hint-fix";
      button.setAttribute("data-email", suggestion);
      button.textContent = "Use " + suggestion;
      hint.append(text, " ", button);
    }

    // The server's hint (after a failed submit) has its button hidden until this script runs.
    var served = hint.querySelector(".email-hint-fix");
    if (served) {
      served.hidden = false;
    }
    var shownFor = served ? email.value : null;

    function update() {
      if (email.value === shownFor) {
        return;
      }
      shownFor = email.value;
      show(suggestEmail(email.value, data));
    }

    email.addEventListener("change", update);
    email.addEventListener("blur", update);
    // Before Tab moves on: a hint made now puts its button next in the tab order.
    email.addEventListener("keydown", function (event) {
      if (event.key === "Tab" && !event.shiftKey) {
        update();
      }
    });
    hint.addEventListener("click", function (event) {
      var button = event.target.closest(".email-hint-fix");
      if (!button) {
        return;
      }
      email.value = button.getAttribute("data-email");
      shownFor = email.value;
      show(null);
      var done = document.createElement("span");
      done.className = "visually-hidden";
      done.textContent = "Email changed to " + email.value + ".";
      hint.append(done);
      email.focus();
    });
  }

  ready(function () {
    focusErrorSummary();
    Array.prototype.forEach.call(document.querySelectorAll("form.request-form"), function (form) {
      postalLabelFollowsCountry(form);
      emailHints(form);
    });
  });
})();
