// Lead page: while someone types in a form, tell the server they are still there (at most
// once a minute), so the 30-minute idle timeout does not sign them out mid-note and lose
// the text. Without JS nothing changes: the session just ends after 30 idle minutes.
document.addEventListener("DOMContentLoaded", () => {
  const page = document.querySelector("[data-keep-alive-url]");
  if (!page) return;
  const token = document.querySelector('input[name="csrf_token"]');
  let last = Date.now(); // loading the page was activity too
  let inFlight = false;
  page.addEventListener("input", () => {
    // Read each time, so a test can shorten it.
    const every = Number(page.dataset.keepAliveEvery || "60") * 1000;
    if (inFlight || Date.now() - last < every) return;
    inFlight = true;
    last = Date.now();
    fetch(page.dataset.keepAliveUrl, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual", // signed out already: the next submit shows the sign-in page
      headers: token ? { "X-CSRFToken": token.value } : {},
    })
      .catch(() => {})
      .finally(() => { inFlight = false; });
  });
});
