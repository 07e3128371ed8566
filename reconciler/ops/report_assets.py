"""The report's inline stylesheet and script. Kept as constants so the page is one file with
no network access; the Content-Security-Policy allows exactly these two by their hashes.

The script reads the data from `<script type="application/json" id="report-data">` and builds
every cell with textContent, never innerHTML, so no text from a server can become markup.
"""

from __future__ import annotations

CSS = """
:root { color-scheme: light; --fg: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: #fff; }
header { padding: 14px 24px 6px; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 8px; }
section { padding: 0 24px; }
.meta { color: var(--muted); margin: 0 0 8px; }
.cards { display: flex; gap: 10px; flex-wrap: wrap; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 110px;
        background: #fff; }
.card b { display: block; font-size: 18px; }
.controls { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; margin: 6px 0 10px; }
.controls label { color: var(--muted); font-size: 12px; }
.controls select, .controls input { font: inherit; padding: 3px 6px; margin-left: 4px; }
.controls details { position: relative; }
.controls details div { position: absolute; z-index: 2; background: #fff; padding: 8px 10px;
                        border: 1px solid var(--line); border-radius: 6px; width: 220px; }
.controls details label { display: block; color: var(--fg); font-size: 13px; }
#count { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; max-width: 320px; overflow-wrap: anywhere; }
th { background: var(--bg); position: sticky; top: 0; }
td[data-column=created], td[data-column=expires], td[data-column=rotation_due],
td[data-column=retires], td[data-column=scope], td[data-column=status] { white-space: nowrap; }
.hidden { display: none; }
.badge { border-radius: 10px; padding: 1px 8px; font-size: 12px; white-space: nowrap; }
.status-active { background: #dcfce7; color: #166534; }
.status-revoked { background: #fee2e2; color: #991b1b; }
.status-expired { background: #f3f4f6; color: #374151; }
.sev-error { color: #b91c1c; font-weight: 600; }
.sev-warning { color: #b45309; font-weight: 600; }
.sev-note { color: var(--muted); }
.overdue { color: #b91c1c; font-weight: 600; }
code { font-size: 12px; }
"""

JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var now = Date.parse(data.generated_at);
  var state = { status: "all", expiration: "all", namespace: "all", search: "", sort: "newest",
                columns: {} };
  data.columns.forEach(function (c) { state.columns[c.key] = c.default; });
  var $ = function (id) { return document.getElementById(id); };

  function day(iso) { return iso ? iso.slice(0, 10) : null; }
  function text(token, key) {
    var v = token[key];
    if (key === "expires" && v === null) { return "never"; }
    if (v === null || v === undefined || v === "") { return "-"; }
    if (Array.isArray(v)) { return v.length ? v.join(", ") : "-"; }
    if (key === "created" || key === "expires" || key === "rotation_due" || key === "retires") {
      return day(v);
    }
    return String(v);
  }
  function matches(t) {
    if (state.status !== "all" && t.status !== state.status) { return false; }
    var exp = t.expires === null ? null : Date.parse(t.expires);
    if (state.expiration === "never" && exp !== null) { return false; }
    if (state.expiration === "has" && !(exp !== null && exp > now)) { return false; }
    if (state.expiration === "expired" && !(exp !== null && exp <= now)) { return false; }
    if (state.namespace === "(unmanaged)" && t.namespace !== null) { return false; }
    if (state.namespace !== "all" && state.namespace !== "(unmanaged)" &&
        t.namespace !== state.namespace) { return false; }
    if (state.search) {
      var hay = [t.name, t.description, t.user, t.email || ""].join("\\n").toLowerCase();
      if (hay.indexOf(state.search.toLowerCase()) < 0) { return false; }
    }
    return true;
  }
  function byText(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  function compare(a, b) {
    var active = (a.status === "active" ? 0 : 1) - (b.status === "active" ? 0 : 1);
    if (active) { return active; }
    var created = byText(a.created, b.created);
    var order = 0;
    if (state.sort === "oldest") { order = created; }
    else if (state.sort === "newest") { order = -created; }
    else {
      order = byText(a.name.toLowerCase(), b.name.toLowerCase());
      if (state.sort === "-name") { order = -order; }
      if (!order) { order = -created; }
    }
    return order || byText(a.id, b.id);
  }
  function render() {
    var body = $("token-rows");
    var rows = data.tokens.filter(matches).sort(compare);
    var fresh = document.createElement("tbody");
    fresh.id = "token-rows";
    rows.forEach(function (t) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-guid", t.id);
      data.columns.forEach(function (c) {
        var td = document.createElement("td");
        td.setAttribute("data-column", c.key);
        if (!state.columns[c.key]) { td.className = "hidden"; }
        if (c.key === "status") {
          var badge = document.createElement("span");
          badge.className = "badge status-" + t.status;
          badge.textContent = t.status;
          td.appendChild(badge);
        } else {
          td.textContent = text(t, c.key);
        }
        tr.appendChild(td);
      });
      fresh.appendChild(tr);
    });
    body.parentNode.replaceChild(fresh, body);
    document.querySelectorAll("#token-table th").forEach(function (th) {
      th.className = state.columns[th.getAttribute("data-column")] ? "" : "hidden";
    });
    $("count").textContent = rows.length + " of " + data.tokens.length + " tokens";
  }
  ["status", "expiration", "namespace", "sort"].forEach(function (id) {
    $(id).addEventListener("change", function (e) { state[id] = e.target.value; render(); });
  });
  $("search").addEventListener("input", function (e) { state.search = e.target.value; render(); });
  document.querySelectorAll("input[data-toggle]").forEach(function (box) {
    box.addEventListener("change", function () {
      state.columns[box.getAttribute("data-toggle")] = box.checked;
      render();
    });
  });
  render();
})();
"""
