"use strict";
fetch("/console/api/stats", {credentials: "same-origin"}).then((r) => r.json()).then((data) => {
  document.getElementById("stats").textContent = JSON.stringify(data, null, 2);
});
