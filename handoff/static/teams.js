"use strict";
// The teams page (issue 26): each team's places, hours, days off and members; admins put counselors
// in and out of a team; the team's admins keep its local resources (places to be, family groups,
// courses, work support). Every change goes through the JSON API, which checks who may make it and
// logs it (who, when, what). Rendered with textContent and form values only: whatever an editor
// writes is never parsed as HTML.
(function () {
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("mado-words").textContent);
  const KINDS = JSON.parse($("mado-kinds").textContent);       // [[kind, its words], …]
  const app = $("teams-app");
  const ADMIN = app.dataset.role === "admin";
  const api = window.madoApi(app.dataset.csrf);
  const fmt = (key, params) => (T[key] || key).replace(/\{(\w+)\}/g, (_, k) => params[k]);
  const path = (name) => "/teams/" + encodeURIComponent(name);
  const FIELDS = ["kind", "name", "note", "phone", "url", "date", "until"];
  let counselors = [];           // admins: everyone who may be put in a team

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function button(cls, text, onClick) {
    const b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function fact(dl, key, text) {
    dl.append(el("dt", "", T[key]), el("dd", "", text));
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString("ja-JP", {timeZone: "Asia/Tokyo", dateStyle: "short", timeStyle: "short"}) : "";
  }

  function showError(sec, text) {
    const p = sec.querySelector(".team-error");
    p.textContent = text || "";
    p.hidden = !text;
  }

  // -- a team: what it serves and when, who is in it -------------------------------------------
  function teamSection(team) {
    const sec = el("section", "team-card");
    sec.dataset.team = team.name;
    const head = el("h3", "", team.name + " ");
    head.appendChild(el("span", "badge " + (team.on_duty ? "on-duty" : "off-duty"), T[team.on_duty ? "team.on_duty" : "team.off_duty"]));
    const facts = el("dl", "team-facts");
    fact(facts, "team.places", team.places.map((p) => p.name).join("、"));
    fact(facts, "team.hours", T["team.hours." + team.hours] || team.hours);     // "always", "never": in words
    fact(facts, "team.closed", team.closed || T["team.none"]);
    const error = el("p", "error team-error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    sec.append(head, facts, el("h4", "", T["team.members"]), el("div", "team-members"), error,
      el("h4", "", T["local.title"]), el("div", "team-resources"));
    drawMembers(sec, team);
    return sec;
  }

  function drawMembers(sec, team) {
    const list = el("ul", "member-list");
    team.members.forEach((name) => {
      const li = el("li");
      li.dataset.name = name;
      li.appendChild(el("span", "", name));
      if (ADMIN) {
        const out = button("member-remove", T["team.member.remove"],
          () => changeMembers(sec, path(team.name) + "/members/" + encodeURIComponent(name) + "/delete"));
        out.setAttribute("aria-label", fmt("team.member.remove.who", {name, team: team.name}));
        li.appendChild(out);
      }
      list.appendChild(li);
    });
    const parts = [list];
    if (!team.members.length) parts.push(el("p", "empty", T["team.members.none"]));
    if (ADMIN) {
      const choose = el("select", "member-choose");
      choose.setAttribute("aria-label", T["team.member.choose"]);
      const first = el("option", "", T["team.member.choose"]);
      first.value = "";
      choose.appendChild(first);
      counselors.filter((c) => !c.disabled && !team.members.includes(c.name)).forEach((c) => {
        const o = el("option", "", c.name);
        o.value = c.name;
        choose.appendChild(o);
      });
      const add = button("member-add primary", T["team.member.add"],
        () => changeMembers(sec, path(team.name) + "/members", {name: choose.value}));
      add.disabled = true;
      choose.addEventListener("change", () => { add.disabled = !choose.value; });
      const row = el("div", "member-add-row");
      row.append(choose, add);
      parts.push(row);
    }
    sec.querySelector(".team-members").replaceChildren(...parts);
  }

  async function changeMembers(sec, apiPath, body) {
    const r = await api("POST", apiPath, body);
    showError(sec, r.ok ? "" : (r.data.error || T["error.generic"]));
    const now = await api("GET", "/teams");
    const team = now.ok && (now.data.teams || []).find((t) => t.name === sec.dataset.team);
    if (team) drawMembers(sec, team);
  }

  // -- its local resources ----------------------------------------------------------------------
  async function loadResources(sec) {
    const r = await api("GET", path(sec.dataset.team) + "/resources");
    if (r.ok) drawResources(sec, r.data);
  }

  function drawResources(sec, data) {
    const list = el("ol", "local-list");
    data.resources.forEach((x) => list.appendChild(resourceItem(sec, x, data.editable)));
    const parts = [list];
    if (!data.resources.length) parts.push(el("p", "empty", T["local.none"]));
    parts.push(data.editable ? resourceForm(sec) : el("p", "empty", T["local.readonly"]));
    sec.querySelector(".team-resources").replaceChildren(...parts);
  }

  function resourceItem(sec, x, editable) {
    const li = el("li", "local-item" + (x.past ? " past" : ""));
    li.dataset.id = x.id;
    const body = el("div", "local-body");
    li.appendChild(body);
    body.appendChild(el("strong", "local-title", x.title));
    if (x.past) body.appendChild(el("span", "badge past", T["local.past"]));
    if (x.note) body.appendChild(el("div", "local-note", x.note));
    const contact = el("div", "local-contact");
    if (x.phone) contact.appendChild(el("span", "local-phone", x.phone));
    if (x.url) {
      const a = el("a", "local-url", x.url);
      a.href = x.url;                       // http(s) only: the server refuses anything else
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      contact.appendChild(a);
    }
    body.appendChild(contact);
    if (x.updated_by) body.appendChild(el("div", "local-updated", fmt("local.updated", {by: x.updated_by, at: when(x.updated_at)})));
    if (editable) {
      const buttons = el("div", "local-buttons");
      buttons.append(
        button("local-edit", T["local.edit"], () => startEdit(sec, x)),
        button("danger local-delete", T["local.delete"], () => {
          if (confirm(fmt("local.delete.confirm", {title: x.title}))) {
            changeResources(sec, path(sec.dataset.team) + "/resources/" + encodeURIComponent(x.id) + "/delete");
          }
        }));
      li.appendChild(buttons);
    }
    return li;
  }

  function input(form, name, type, labelKey, max) {
    const field = el("input");
    field.type = type;
    field.name = name;
    if (max) field.maxLength = max;
    const label = el("label", "", T[labelKey]);
    label.appendChild(field);
    form.appendChild(label);
  }

  function resourceForm(sec) {
    const form = el("form", "canned-item local-form");
    form.noValidate = true;                 // the server's checks, in the console's words
    form.appendChild(el("h3", "local-form-title", T["local.new"]));
    const kind = el("select");
    kind.name = "kind";
    KINDS.forEach(([value, words]) => {
      const o = el("option", "", words);
      o.value = value;
      kind.appendChild(o);
    });
    const kindLabel = el("label", "", T["local.kind"]);
    kindLabel.appendChild(kind);
    form.appendChild(kindLabel);
    input(form, "name", "text", "local.name", 60);
    input(form, "note", "text", "local.note", 200);
    input(form, "phone", "tel", "local.phone", 20);
    input(form, "url", "url", "local.url", 300);
    input(form, "date", "date", "local.date");
    input(form, "until", "date", "local.until");
    form.appendChild(el("p", "empty", T["local.contact"]));
    const buttons = el("div", "canned-buttons");
    const cancel = button("local-cancel", T["local.cancel"], () => endEdit(sec));
    cancel.hidden = true;
    const save = el("button", "primary local-save", T["local.add"]);
    save.type = "submit";
    buttons.append(cancel, save);
    form.appendChild(buttons);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = Object.fromEntries(FIELDS.map((f) => [f, form.elements[f].value]));
      const id = form.dataset.id;
      const where = path(sec.dataset.team) + "/resources" + (id ? "/" + encodeURIComponent(id) : "");
      await changeResources(sec, where, body);
    });
    return form;
  }

  function startEdit(sec, x) {
    const form = sec.querySelector(".local-form");
    form.dataset.id = x.id;
    FIELDS.forEach((f) => { form.elements[f].value = x[f] || ""; });
    form.querySelector(".local-form-title").textContent = fmt("local.editing", {title: x.title});
    form.querySelector(".local-save").textContent = T["local.save"];
    form.querySelector(".local-cancel").hidden = false;
    form.elements.name.focus();
  }

  function endEdit(sec) {
    const form = sec.querySelector(".local-form");
    delete form.dataset.id;
    form.reset();
    form.querySelector(".local-form-title").textContent = T["local.new"];
    form.querySelector(".local-save").textContent = T["local.add"];
    form.querySelector(".local-cancel").hidden = true;
    showError(sec, "");
  }

  async function changeResources(sec, apiPath, body) {
    const r = await api("POST", apiPath, body);
    showError(sec, r.ok ? "" : (r.data.error || T["error.generic"]));
    if (r.ok) drawResources(sec, r.data);         // the list as it is now; the form empty again
  }

  async function load() {
    const [teams, people] = await Promise.all([api("GET", "/teams"), ADMIN ? api("GET", "/counselors") : null]);
    if (people && people.ok) counselors = people.data.counselors || [];
    if (!teams.ok) return;
    const list = teams.data.teams || [];
    $("teams-empty").hidden = list.length > 0;
    const sections = list.map(teamSection);
    $("teams").replaceChildren(...sections);
    await Promise.all(sections.map(loadResources));
  }
  load();
})();
