"use strict";
(function () {
  const T = JSON.parse(document.getElementById("mado-words").textContent);
  const form = document.getElementById("login-form");
  const err = document.getElementById("login-error");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const res = await fetch("/console/api/login", {
      method: "POST", headers: {"Content-Type": "application/json"}, credentials: "same-origin",
      body: JSON.stringify({name: form.name.value, password: form.password.value}),
    });
    if (res.ok) {
      const next = new URLSearchParams(location.search).get("next");
      location.href = next && next.startsWith("/console/") ? next : "/console/";
      return;
    }
    err.textContent = res.status === 429 ? T["login.throttled"] : T["login.wrong"];
    err.hidden = false;
    form.password.value = "";
    form.password.focus();
  });
})();
