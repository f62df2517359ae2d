"use strict";
// Admins edit the canned replies (add, edit, delete, back to the catalogue's). Rendered with
// textContent and form values only: whatever an admin writes is never parsed as HTML.
(function () {
  const T = JSON.parse(document.getElementById("mado-words").textContent);
  const CSRF = document.getElementById("canned-app").dataset.csrf;
  const $ = (id) => document.getElementById(id);
  const api = window.madoApi(CSRF);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function field(labelKey, input) {
    const label = el("label", "", T[labelKey]);
    label.appendChild(input);
    return label;
  }

  function item(c) {
    const li = el("li", "canned-item");
    li.dataset.id = c.id;
    const label = el("input");
    label.type = "text";
    label.maxLength = 40;
    label.value = c.label;
    label.className = "canned-label";
    const text = el("textarea");
    text.rows = 3;
    text.maxLength = 1000;
    text.value = c.text;
    text.className = "canned-text";
    const save = el("button", "primary canned-save", T["canned.save"]);
    save.type = "button";
    save.addEventListener("click", () => change("/canned/" + encodeURIComponent(c.id), {label: label.value, text: text.value}));
    const del = el("button", "danger canned-delete", T["canned.delete"]);
    del.type = "button";
    del.addEventListener("click", () => {
      if (confirm(T["canned.delete.confirm"])) change("/canned/" + encodeURIComponent(c.id) + "/delete");
    });
    const buttons = el("div", "canned-buttons");
    buttons.append(save, del);
    li.append(field("canned.label", label), field("canned.text", text), buttons);
    return li;
  }

  function show(data) {
    $("canned-list").replaceChildren(...data.canned.map(item));
    $("canned-state").textContent = T[data.edited ? "canned.edited" : "canned.defaults"];
    $("canned-reset").disabled = !data.edited;
  }

  function showError(text) {
    $("canned-error").textContent = text || "";
    $("canned-error").hidden = !text;
  }

  async function change(path, body) {
    const r = await api("POST", path, body);
    showError(r.ok ? "" : (r.data.error || T["error.generic"]));
    if (r.ok) show(r.data);
    return r.ok;
  }

  $("canned-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await change("/canned", {label: $("canned-add-label").value, text: $("canned-add-text").value})) {
      $("canned-add-label").value = "";
      $("canned-add-text").value = "";
    }
  });
  $("canned-reset").addEventListener("click", () => { if (confirm(T["canned.reset.confirm"])) change("/canned/reset"); });
  api("GET", "/canned").then((r) => { if (r.ok) show(r.data); });
})();
