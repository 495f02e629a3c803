// The articles panel: list, search by title, read one; with the admin key, add and remove.
// Uses el, api, safeUrl, formatDate and refreshStats from app.js (loaded first).
"use strict";

(() => {
  const PAGE = 20;
  const KEY_STORE = "newsqa-admin-key";
  const panel = document.getElementById("articles");
  const openButton = document.getElementById("open-articles");
  const browse = document.getElementById("article-browse");
  const list = document.getElementById("article-list");
  const count = document.getElementById("article-count");
  const moreButton = document.getElementById("article-more");
  const search = document.getElementById("article-q");
  const view = document.getElementById("article-view");
  const keyInput = document.getElementById("admin-key");
  const forgetButton = document.getElementById("admin-forget");
  const tools = document.getElementById("admin-tools");
  const result = document.getElementById("admin-result");

  let query = "";
  let shown = 0;
  let searchTimer = null;

  const adminKey = () => sessionStorage.getItem(KEY_STORE);

  function showAdmin() {
    const key = adminKey();
    tools.hidden = !key;
    forgetButton.hidden = !key;
    keyInput.placeholder = key ? "key in use (this tab only)" : "X-API-Key";
  }

  // Writes carry the key; a 401 means it is wrong, so it is forgotten.
  async function write(method, path, body) {
    const options = { method, headers: { "X-API-Key": adminKey() || "" } };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const data = await response.json().catch(() => ({}));
    if (response.status === 401) {
      sessionStorage.removeItem(KEY_STORE);
      showAdmin();
      throw new Error("the admin key was refused; enter it again");
    }
    if (!response.ok) {
      let detail = data.detail;
      if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
      throw new Error(detail || `the server answered ${response.status}`);
    }
    return data;
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function where(item) {
    return [item.source, formatDate(item.published)].filter(Boolean).join(" · ");
  }

  function row(item) {
    const open = el("button", { type: "button", class: "article-open" },
      el("span", { class: "article-title" }, item.title),
      el("span", { class: "muted small" },
        [where(item), plural(item.sentences, "sentence")].filter(Boolean).join(" · ")));
    open.addEventListener("click", () => openArticle(item.id));
    return el("li", {}, open);
  }

  async function load(reset) {
    if (reset) {
      shown = 0;
      list.replaceChildren();
    }
    const params = new URLSearchParams({ offset: String(shown), limit: String(PAGE) });
    if (query) params.set("q", query);
    try {
      const page = await api("GET", `/articles?${params}`);
      for (const item of page.items) list.append(row(item));
      shown += page.items.length;
      moreButton.hidden = shown >= page.total;
      if (page.total === 0) {
        count.textContent = query
          ? `No title contains “${query}”.`
          : "No articles yet. Add some with newsqa ingest PATH, or below with the admin key.";
      } else {
        count.textContent = query
          ? `${page.total} article${page.total === 1 ? "" : "s"} with “${query}” in the title`
          : `${page.total} article${page.total === 1 ? "" : "s"}, newest first`;
      }
    } catch (error) {
      count.textContent = `Could not list the articles: ${error.message}`;
    }
  }

  async function openArticle(id) {
    view.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    browse.hidden = true;
    view.hidden = false;
    try {
      const article = await api("GET", `/articles/${encodeURIComponent(id)}`);
      const link = safeUrl(article.url);
      const back = el("button", { type: "button", class: "link" }, "← All articles");
      back.addEventListener("click", closeArticle);
      const heading = el("h3", {}, link
        ? el("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, article.title)
        : article.title);
      const parts = [back, heading,
        el("p", { class: "muted small" },
          [where(article), plural(article.sentences.length, "sentence")].filter(Boolean).join(" · ")),
        el("div", { class: "article-text" }, article.text)];
      if (adminKey()) {
        const remove = el("button", { type: "button", class: "ghost danger" }, "Remove this article");
        remove.addEventListener("click", () => removeArticle(article));
        parts.push(remove);
      }
      view.replaceChildren(...parts);
      panel.scrollTop = 0;
    } catch (error) {
      view.replaceChildren(el("p", { class: "error" }, `Could not open it: ${error.message}`));
    }
  }

  function closeArticle() {
    view.hidden = true;
    browse.hidden = false;
  }

  async function removeArticle(article) {
    if (!window.confirm(`Remove “${article.title}” and its ${article.sentences.length} sentences?`)) {
      return;
    }
    try {
      const removed = await write("DELETE", `/articles/${encodeURIComponent(article.id)}`);
      result.textContent = `Removed “${article.title}” (${removed.sentences} sentences).`;
      closeArticle();
      await load(true);
      refreshStats();
    } catch (error) {
      result.textContent = `Not removed: ${error.message}`;
    }
  }

  function report(outcome) {
    const added = outcome.added.length;
    const lines = [`Added ${added} article${added === 1 ? "" : "s"}, replaced ${outcome.replaced.length}, `
      + `${outcome.unchanged.length} unchanged (${outcome.sentences} sentences).`];
    for (const skipped of outcome.skipped) lines.push(`Skipped ${skipped.where}: ${skipped.reason}`);
    result.textContent = lines.join(" ");
  }

  async function add(form, body) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    result.textContent = "Adding…";
    try {
      report(await write("POST", "/articles", body));
      form.reset();
      await load(true);
      refreshStats();
    } catch (error) {
      result.textContent = `Not added: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  function toggle(open) {
    panel.hidden = !open;
    openButton.setAttribute("aria-expanded", String(open));
    if (open) {
      closeArticle();
      load(true);
      search.focus();
    } else {
      openButton.focus();
    }
  }

  openButton.addEventListener("click", () => toggle(panel.hidden));
  document.getElementById("close-articles").addEventListener("click", () => toggle(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) toggle(false);
  });
  moreButton.addEventListener("click", () => load(false));
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = search.value.trim();
      closeArticle();
      load(true);
    }, 250);
  });
  document.getElementById("article-search").addEventListener("submit", (event) => {
    event.preventDefault();
    query = search.value.trim();
    load(true);
  });

  document.getElementById("admin-key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    keyInput.value = "";
    result.textContent = "Key kept for this tab. It is checked on the first change.";
    showAdmin();
  });
  forgetButton.addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    result.textContent = "Key forgotten.";
    showAdmin();
  });
  document.getElementById("add-file").addEventListener("submit", (event) => {
    event.preventDefault();
    const file = document.getElementById("add-file-input").files[0];
    if (!file) return;
    const body = new FormData();
    body.append("file", file);
    add(event.target, body);
  });
  document.getElementById("add-text").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      title: document.getElementById("add-title").value.trim(),
      text: document.getElementById("add-body").value.trim(),
    };
    const source = document.getElementById("add-source").value.trim();
    if (source) body.source = source;
    add(event.target, body);
  });

  showAdmin();
})();
