/* The embedded form's side of embed.js: tell the host page how tall this page is (whenever
   it changes) and, on the thanks page, that a request was sent (the program slug only).
   Messages go to the host origin the server checked against its allowlist
   (data-parent-origin), never to "*": another page framing this one hears nothing. */
(function () {
  "use strict";

  var body = document.body;
  var parentOrigin = body && body.getAttribute("data-parent-origin");
  if (!parentOrigin || window.parent === window) {
    return;
  }

  function post(message) {
    window.parent.postMessage(message, parentOrigin);
  }

  var root = document.documentElement;
  var last = -1;
  var first = true;
  function measure() {
    var height = Math.ceil(root.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      post({ type: "leadform:height", height: height, page: first });
      first = false;
    }
  }
  if (window.ResizeObserver) {
    new ResizeObserver(measure).observe(root);
  } else {
    window.addEventListener("resize", measure);
  }
  measure();

  var submitted = body.getAttribute("data-submitted");
  if (submitted !== null) {
    post({ type: "leadform:submitted", program: submitted });
  }
})();
