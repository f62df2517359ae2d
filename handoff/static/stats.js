"use strict";
// Anonymous statistics for admins: counts only, rendered as tables (no per-person data exists here).
(function () {
  const T = JSON.parse(document.getElementById("mado-words").textContent);
  const label = (k) => T["stats." + k] || k;
  const el = (tag, text) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; };
  const percent = (v) => (v === null || v === undefined ? null : (T["stats.percent"] || "{n} %").replace("{n}", String(Math.round(v * 1000) / 10)));
  function table(rows) {
    const t = el("table");
    rows.forEach(([k, v]) => { const tr = el("tr"); tr.append(el("th", label(k)), el("td", v === null ? "-" : String(v))); t.append(tr); });
    return t;
  }
  fetch("/console/api/stats", {credentials: "same-origin"}).then((r) => r.json()).then((d) => {
    const box = document.getElementById("stats");
    box.replaceChildren(
      table(Object.entries(d.totals).concat([["reply_share", percent(d.reply_share)], ["crisis_share", percent(d.crisis_share)], ["median_wait_s", d.median_wait_s]])),
      el("h3", label("per_day")),
      table(Object.entries(d.days).map(([day, v]) => [day, Object.entries(v).map(([k, n]) => label(k) + " " + n).join("、") || "-"])));
  });
})();
