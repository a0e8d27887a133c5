/* LeadForm's embed script: <script src="https://LEADFORM/embed.js" data-program="SLUG" async></script>
   Inserts the request-info form in an iframe right where the script tag is, passes the host
   page's origin, URL, referrer and utm_* parameters for attribution, keeps the iframe as
   tall as its content, and dispatches a "leadform:submitted" CustomEvent on the script
   element (it bubbles to document and window) with { program: SLUG } when a request was
   sent: no personal data. Messages are taken only from the LeadForm origin this script
   was loaded from, and only from this script's own iframe. */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src || !window.URL || !window.URLSearchParams) {
    return;
  }
  var src = new URL(script.src, location.href);
  var leadform = src.origin;
  var base = src.pathname.replace(/\/embed\.js$/, "");
  var program = (script.getAttribute("data-program") || "").trim();
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

  var params = new URLSearchParams();
  params.set("origin", location.origin);
  params.set("page", location.href.split("#")[0]);
  if (document.referrer) {
    params.set("ref", document.referrer);
  }
  var hostQuery = new URLSearchParams(location.search);
  UTM.forEach(function (name) {
    var value = hostQuery.get(name);
    if (value) {
      params.set(name, value);
    }
  });

  var frame = document.createElement("iframe");
  frame.src = leadform + base + "/embed" + (program ? "/" + encodeURIComponent(program) : "") +
    "?" + params.toString();
  frame.title = "Request more information";
  frame.className = "leadform-embed";
  frame.style.display = "block";
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.height = "900px"; /* until the form says how tall it is */
  frame.style.overflow = "hidden";
  frame.setAttribute("scrolling", "no");
  script.parentNode.insertBefore(frame, script.nextSibling);

  var pages = 0;
  window.addEventListener("message", function (event) {
    if (event.origin !== leadform || event.source !== frame.contentWindow) {
      return;
    }
    var data = event.data;
    if (!data || typeof data !== "object") {
      return;
    }
    if (data.type === "leadform:height") {
      var height = Number(data.height);
      if (height > 0 && height < 100000) {
        frame.style.height = Math.ceil(height) + "px";
      }
      /* A new page in the frame after the first (errors, thanks): bring its top into view. */
      if (data.page && ++pages > 1 && frame.getBoundingClientRect().top < 0) {
        frame.scrollIntoView();
      }
    } else if (data.type === "leadform:submitted") {
      var slug = typeof data.program === "string" ? data.program : "";
      var detail = { program: slug };
      var submitted;
      try {
        submitted = new CustomEvent("leadform:submitted", { bubbles: true, detail: detail });
      } catch (e) {
        return;
      }
      script.dispatchEvent(submitted);
    }
  });
})();
