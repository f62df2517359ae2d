"use strict";
// The LINE chat simulator: sends events through the server (which signs them and posts them to
// /callback) and shows what the bot sent, as LINE would: bubbles, quick replies, the loading
// animation and 既読 under the person's own messages once they have been marked as read.
(function () {
  const T = JSON.parse(document.getElementById("demo-words").textContent);
  const $ = (id) => document.getElementById(id);
  const people = [];          // {user, number, sent: [{text, readToken, at}], seen}
  let current = null;

  const TOKEN = document.querySelector("meta[name='demo-token']").content;   // this demo's own page

  async function call(method, path, body) {
    const opts = {method, headers: {"Content-Type": "application/json", "X-Demo-Token": TOKEN}};
    if (body) opts.body = JSON.stringify(body);
    const res = await fetch("/demo/api" + path, opts);
    return res.json();
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderPeople() {
    $("people").replaceChildren(...people.map((p) => {
      const li = el("li", p === current ? "current" : "", T["person"].replace("{n}", p.number));
      li.addEventListener("click", () => { current = p; renderPeople(); refresh(); });
      return li;
    }));
    $("who").textContent = current ? T["person"].replace("{n}", current.number) : "";
    const on = Boolean(current);
    $("text").disabled = !on;
    $("send").disabled = !on;
  }

  async function newPerson() {
    const res = await call("POST", "/people");
    const p = {user: res.user, number: res.number, sent: [], timeline: []};
    people.push(p);
    current = p;
    renderPeople();
    refresh();
    $("text").focus();
  }

  async function send(kind, extra, shown) {
    if (!current) return;
    const p = current;
    const res = await call("POST", "/send", Object.assign({user: p.user, kind}, extra));
    p.sent.push({text: shown, readToken: res.read_token, at: res.at});
    $("quick").replaceChildren();
    refresh();
  }

  // A LINE Flex card as a phone shows it: its texts, and its buttons; a tel: button shows the
  // number it would dial, a web button the address it would open.
  function renderCard(node) {
    if (node.type === "bubble") {
      const card = el("div", "bubble card");
      ["header", "body", "footer"].forEach((part) => { if (node[part]) card.appendChild(renderCard(node[part])); });
      return card;
    }
    if (node.type === "box") {
      const box = el("div", "card-box " + (node.layout || "vertical"));
      (node.contents || []).forEach((child) => box.appendChild(renderCard(child)));
      return box;
    }
    if (node.type === "text") {
      return el("div", "card-text" + (node.weight === "bold" ? " bold" : "") + (node.size ? " " + node.size : ""), node.text);
    }
    if (node.type === "button" && node.action && node.action.type === "uri") {
      const uri = node.action.uri;
      const a = el("a", "card-button " + (node.style || "link"));
      a.href = uri;
      a.target = "_blank";
      a.rel = "noopener";
      const dial = uri.startsWith("tel:") ? decodeURIComponent(uri.slice(4)) : "";
      a.textContent = node.action.label + (dial ? " " + dial : "");
      a.dataset.uri = uri;
      return a;
    }
    return el("span");
  }

  async function refresh() {
    if (!current) return;
    const p = current;
    const box = await call("GET", "/inbox?user=" + encodeURIComponent(p.user));
    if (p !== current) return;
    const items = [];
    box.messages.forEach((m) => items.push({who: "bot", text: m.text, at: m.at, quick: m.quick, card: m.card}));
    p.sent.forEach((s) => items.push({who: "me", text: s.text, at: s.at, token: s.readToken}));
    items.sort((a, b) => a.at - b.at);
    // 既読: markAsRead marks every message up to the one whose token was used
    const read = new Set(box.read);
    let lastRead = -1;
    items.forEach((it, i) => { if (it.token && read.has(it.token)) lastRead = i; });
    const chat = $("chat");
    const key = JSON.stringify(items.map((i) => [i.who, i.text])) + lastRead;
    if (chat.dataset.key !== key) {
      chat.dataset.key = key;
      chat.replaceChildren(...items.map((it, i) => {
        const li = el("li", it.who);
        const bubble = it.card ? renderCard(it.card) : el("span", "bubble", it.text);
        if (it.who === "me") {
          const meta = el("span", "meta", i <= lastRead ? T["read"] : "");
          meta.dataset.read = i <= lastRead ? "1" : "0";
          li.append(meta, bubble);
        } else {
          li.append(bubble);
        }
        return li;
      }));
      chat.scrollTop = chat.scrollHeight;
      const last = items[items.length - 1];
      const quick = last && last.who === "bot" ? last.quick : [];
      $("quick").replaceChildren(...quick.map((q) => {
        const b = el("button", "", q.label);
        b.type = "button";
        b.addEventListener("click", () => send("postback", {data: q.data}, q.display));
        return b;
      }));
    }
    $("typing").hidden = !box.loading;
  }

  $("new-person").addEventListener("click", newPerson);
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value;
    if (!text.trim()) return;
    $("text").value = "";
    send("text", {text}, text);
  });
  $("sticker").addEventListener("click", () => send("sticker", {}, T["sticker_shown"]));
  $("image").addEventListener("click", () => send("image", {}, T["image_shown"]));
  setInterval(refresh, 700);
})();
