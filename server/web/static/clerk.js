// Progressive help for the clerk app; every page works without it.
// Queue: select all, a live count of the selection, and keys (j/k move, x select, a approve,
// r return with the comment box focused, Enter open).
// The Content-Security-Policy allows no inline script: buttons say what they do with data-*.
document.querySelectorAll("[data-print]").forEach(function (b) {
  b.addEventListener("click", function () { window.print(); });
});
(function () {
  "use strict";
  var table = document.getElementById("queue");
  var bulk = document.getElementById("bulk");
  if (!table || !bulk) return;
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
  var picks = function () { return Array.prototype.slice.call(table.querySelectorAll("input.pick")); };
  var count = document.getElementById("selected-count");
  var cursor = -1;

  function refresh() {
    var n = 0;
    rows.forEach(function (row) {
      var box = row.querySelector("input.pick");
      row.classList.toggle("picked", box.checked);
      if (box.checked) n += 1;
    });
    if (count) count.textContent = n ? count.getAttribute("data-template").replace("{n}", n) : "";
  }
  var preview = document.getElementById("preview");
  var shown = null;
  function show(row) {  // the answers of the row under the cursor, beside the list (server-rendered, escaped)
    var id = row.getAttribute("data-id");
    if (!preview || shown === id) return;
    shown = id;
    fetch(table.getAttribute("data-preview").replace("UUID", encodeURIComponent(id)), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { if (shown === id && html) preview.innerHTML = html; });
  }
  function move(to) {
    if (!rows.length) return;
    cursor = Math.max(0, Math.min(rows.length - 1, to));
    rows.forEach(function (row, i) { row.classList.toggle("cursor", i === cursor); });
    rows[cursor].scrollIntoView({ block: "nearest" });
    show(rows[cursor]);
  }
  rows.forEach(function (row, i) {
    row.addEventListener("click", function (e) {
      var tag = (e.target.tagName || "").toLowerCase();
      if (tag !== "a" && tag !== "input") move(i);
    });
  });
  function press(action) {
    if (!picks().some(function (b) { return b.checked; }) && cursor >= 0) rows[cursor].querySelector("input.pick").checked = true;
    var button = bulk.querySelector("button[value=" + action + "]");
    if (action !== "approve" && !document.getElementById("comment").value.trim()) {
      document.getElementById("comment").focus();
      return;
    }
    button.click();
  }
  table.addEventListener("change", refresh);
  var all = document.getElementById("select-all");
  if (all) all.addEventListener("change", function () { picks().forEach(function (b) { b.checked = all.checked; }); refresh(); });
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" && e.target.type !== "checkbox" || tag === "select" || tag === "textarea" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") move(cursor + 1);
    else if (e.key === "k") move(cursor - 1);
    else if (e.key === "x" && cursor >= 0) { var box = rows[cursor].querySelector("input.pick"); box.checked = !box.checked; refresh(); }
    else if (e.key === "a") press("approve");
    else if (e.key === "r") press("return");
    else if (e.key === "Enter" && cursor >= 0) rows[cursor].querySelector("a.open").click();
    else return;
    e.preventDefault();
  });
  refresh();
})();

// Submission page: the queue's keys (a approve and open the next, r return, j/k next/previous, u the queue).
(function () {
  "use strict";
  var decide = document.getElementById("decide");
  if (!decide) return;
  function go(id) { var link = document.getElementById(id); if (link) link.click(); }
  var comment = document.getElementById("comment");
  comment.addEventListener("keydown", function (e) {
    // Enter in the comment box returns with it (never the form's first button, approve); Esc leaves it
    if (e.key === "Enter") { e.preventDefault(); if (comment.value.trim()) document.getElementById("return").click(); }
    else if (e.key === "Escape") comment.blur();
  });
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "a") document.getElementById("approve-next").click();
    else if (e.key === "r") { if (comment.value.trim()) document.getElementById("return").click(); else comment.focus(); }
    else if (e.key === "j") go("next-submission");
    else if (e.key === "k") go("prev-submission");
    else if (e.key === "u") go("back-to-queue");
    else return;
    e.preventDefault();
  });
})();
