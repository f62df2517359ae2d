"use strict";
// The console's JSON API as the pages call it: the session cookie, the CSRF token on every POST,
// and the login page once the session has ended (or, given `ended`, that is called instead: the
// page says why first). Answers {ok, status, data}.
window.madoApi = function (csrf, ended) {
  return async function api(method, path, body) {
    const opts = {method, credentials: "same-origin", headers: {}};
    if (method === "POST") {
      opts.headers["X-CSRF-Token"] = csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    const res = await fetch("/console/api" + path, opts);
    if (res.status === 401) {
      if (ended) ended();
      else location.href = "/console/login?next=" + encodeURIComponent(location.pathname);
    }
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty body */ }
    return {ok: res.ok, status: res.status, data};
  };
};
