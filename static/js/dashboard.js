// runqy dashboard behaviour on top of htmx: poll only while useful, show "disconnected" on a
// failed poll, and put the number of selected rows into bulk-action confirmations.
(function () {
  "use strict";

  // Polls skip while the tab is hidden, or while a refresh would undo what the user is doing:
  // ticked rows, an opened <details>. (Here rather than as an hx-trigger filter: htmx evaluates
  // those with eval, which the Content-Security-Policy forbids.)
  function shouldPoll() {
    return !document.hidden && !document.querySelector("input.row-select:checked, #live details[open]");
  }

  // Back on the tab: refresh at once instead of waiting a whole interval.
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      document.querySelectorAll("[data-live]").forEach(function (el) { htmx.trigger(el, "runqy:refresh"); });
    }
  });

  // A live region polls the address the page shows now (filters update it with hx-push-url),
  // unless it should not poll now (cancelling this event cancels the request).
  document.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.elt.hasAttribute("data-live") && evt.detail.verb === "get") {
      if (!shouldPoll()) { evt.preventDefault(); return; }
      evt.detail.path = window.location.pathname + window.location.search;
    }
  });

  function setConnected(ok) { document.body.classList.toggle("disconnected", !ok); }
  document.addEventListener("htmx:sendError", function () { setConnected(false); });
  document.addEventListener("htmx:responseError", function (evt) {
    if (evt.detail.elt.hasAttribute("data-live")) { setConnected(false); }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail.successful) { setConnected(true); }
  });

  // "{selected}" in an hx-confirm text becomes the number of ticked rows.
  document.addEventListener("htmx:confirm", function (evt) {
    var question = evt.detail.question;
    if (!question || question.indexOf("{selected}") === -1) { return; }
    evt.preventDefault();
    var count = document.querySelectorAll("input.row-select:checked").length;
    if (count === 0) { window.alert("Select at least one task first."); return; }
    if (window.confirm(question.replace("{selected}", String(count)))) { evt.detail.issueRequest(true); }
  });

  document.addEventListener("change", function (evt) {
    if (evt.target.matches("input.select-all")) {
      document.querySelectorAll("input.row-select").forEach(function (box) { box.checked = evt.target.checked; });
    }
  });
})();
