// The chat page: plain DOM, no build step. Text from the server is only ever set as textContent.
"use strict";

const K = 3;
const log = document.getElementById("log");
const form = document.getElementById("ask-form");
const input = document.getElementById("question");
const askButton = document.getElementById("ask");
const focusBar = document.getElementById("focus");
const focusTitle = document.getElementById("focus-title");
const note = document.getElementById("composer-note");
// The server refuses longer questions (422); saying so here keeps the text for editing.
const MAX_QUESTION = Number(input.dataset.max) || 500;

const filtersBox = document.getElementById("filters");
const filterSource = document.getElementById("filter-source");
const filterSince = document.getElementById("filter-since");
const filterUntil = document.getElementById("filter-until");
const filtersSummary = document.getElementById("filters-summary");
// Kept for this page only: a reload starts afresh, so the page never shows a stale focus.
let conversationId = null;
let focusArticle = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// While the server is still loading the model it answers 503 with Retry-After: wait and ask
// again (for up to a minute), telling the reader through onWait, instead of failing at once.
const LOADING_PATIENCE_MS = 60000;

async function api(method, path, body, onWait) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const started = Date.now();
  let response = await fetch(path, options);
  while (response.status === 503 && response.headers.has("Retry-After")) {
    const seconds = Number(response.headers.get("Retry-After")) || 1;
    if (Date.now() - started + seconds * 1000 > LOADING_PATIENCE_MS) break;
    if (onWait) onWait();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    response = await fetch(path, options);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    let detail = data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    const error = new Error(detail || `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// Instant, not smooth: a smooth scroll still running when the answer arrives ends in the wrong place.
function scrollToTurn(node) {
  node.scrollIntoView({ block: "start" });
}

// The sentences around a quote, cut to about `limit` characters at a word boundary, so each
// answer stays short; "Full article" shows everything.
function trimmed(text, limit, fromEnd) {
  if (!text || text.length <= limit) return text;
  if (fromEnd) {
    const cut = text.slice(text.length - limit);
    return "…" + cut.slice(cut.indexOf(" ") + 1);
  }
  const cut = text.slice(0, limit);
  return cut.slice(0, cut.lastIndexOf(" ")) + "…";
}

// Only web addresses become links: an article's url could be "javascript:…".
function safeUrl(value) {
  if (!value) return null;
  try {
    const url = new URL(value, window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// How an answer compares with the best one of its question: scores mean little alone, and
// a weak third answer should not look like the first.
function confidence(score, best) {
  const ratio = best > 0 ? Math.max(0, Math.min(1, score / best)) : 1;
  const label = ratio >= 0.999 ? "best match" : ratio >= 0.85 ? "strong match"
    : ratio >= 0.65 ? "fair match" : "weak match";
  const bar = el("span", { class: "bar" });
  bar.style.width = `${Math.round(ratio * 100)}%`;
  return el("span", {
    class: `confidence ${label.split(" ")[0]}`,
    title: `score ${score.toFixed(2)}, ${Math.round(ratio * 100)}% of the best answer`,
  }, el("span", { class: "meter", "aria-hidden": "true" }, bar), label);
}

function formatDate(value) {
  if (!value) return null;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function setConversation(id) {
  conversationId = id;
}

function showFocus(articleId, title) {
  focusArticle = articleId;
  focusBar.hidden = articleId === null;
  focusTitle.textContent = title || "";
  input.placeholder = articleId ? "Ask about this article…" : "Ask a question…";
}

// The full article with the quoted sentence marked, built from the sentence's offsets.
async function expand(answer, box, button) {
  if (!box.hidden) {
    box.hidden = true;
    button.textContent = "Full article";
    button.setAttribute("aria-expanded", "false");
    return;
  }
  if (!box.dataset.loaded) {
    button.disabled = true;
    try {
      const article = await api("GET", `/articles/${encodeURIComponent(answer.article_id)}`);
      const text = article.text;
      const start = answer.start ?? text.indexOf(answer.sentence);
      const end = answer.end ?? start + answer.sentence.length;
      box.replaceChildren(
        el("p", {}, text.slice(0, start), el("mark", {}, text.slice(start, end)), text.slice(end)),
      );
      box.dataset.loaded = "1";
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, `Could not load the article: ${error.message}`));
    } finally {
      button.disabled = false;
    }
  }
  box.hidden = false;
  button.textContent = "Hide article";
  button.setAttribute("aria-expanded", "true");
  const mark = box.querySelector("mark");
  if (mark) box.scrollTop = Math.max(0, mark.offsetTop - box.offsetTop - 40);
}

function renderAnswer(answer, best) {
  const quote = el(
    "blockquote",
    { class: "quote" },
    answer.context.before
      ? el("span", { class: "ctx" }, trimmed(answer.context.before, 140, true) + " ")
      : null,
    el("mark", {}, answer.sentence),
    answer.context.after
      ? el("span", { class: "ctx" }, " " + trimmed(answer.context.after, 140, false))
      : null,
  );
  const link = safeUrl(answer.url);
  const title = link
    ? el("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, answer.title)
    : el("span", {}, answer.title);
  const where = [answer.source, formatDate(answer.published) || "undated"].filter(Boolean)
    .join(" · ");
  const meta = el("div", { class: "meta" }, el("strong", {}, title),
    el("span", { class: "where" }, where), confidence(answer.score, best));
  const full = el("div", { class: "full", hidden: "" });
  const expandButton = el("button", { type: "button", class: "link", "aria-expanded": "false" },
    "Full article");
  expandButton.addEventListener("click", () => expand(answer, full, expandButton));
  const focusButton = el("button", { type: "button", class: "link" }, "Ask about this article");
  focusButton.addEventListener("click", () => setFocus(answer.article_id, answer.title));
  // Already asking about this article: the button would do nothing.
  const actions = el("div", { class: "actions" }, expandButton,
    focusArticle === answer.article_id ? null : focusButton);
  return el("article", { class: "answer" }, quote, meta, alsoIn(answer), actions, full);
}

// Other outlets that published the same story (stored once, listed here).
function alsoIn(answer) {
  const others = answer.also_in || [];
  if (others.length === 0) return null;
  const parts = ["also in: "];
  others.forEach((other, i) => {
    const name = other.source || other.title;
    parts.push(other.url && /^https?:\/\//i.test(other.url)
      ? el("a", { href: other.url, target: "_blank", rel: "noopener noreferrer" }, name)
      : name);
    if (i < others.length - 1) parts.push(", ");
  });
  return el("div", { class: "also-in muted" }, ...parts);
}

function renderAnswers(container, answerSet, { more = false, filters = {} } = {}) {
  if (answerSet.abstained && answerSet.answers.length === 0) {
    const limited = describeFilters(filters);
    let hint = focusArticle
      ? "Try rephrasing, or ask about all articles again."
      : "Try rephrasing, or ask about something the articles cover.";
    if (limited) hint = `Only articles ${limited} were searched; try widening the filters.`;
    container.append(el("p", { class: "abstain" },
      "I found nothing in the articles that answers this. ",
      el("span", { class: "muted" }, hint)));
    return;
  }
  if (more && answerSet.answers.length === 0) {
    container.append(el("p", { class: "muted" }, "No more answers to this question."));
    return;
  }
  // "More answers" are measured against the question's first answer, not their own best.
  if (!container.dataset.best && answerSet.answers.length > 0) {
    container.dataset.best = String(answerSet.answers[0].score);
  }
  const best = Number(container.dataset.best);
  for (const answer of answerSet.answers) container.append(renderAnswer(answer, best));
  if (answerSet.conversation_id && answerSet.answers.length > 0) {
    const moreButton = el("button", { type: "button", class: "ghost more" }, "More answers");
    moreButton.addEventListener("click", () => moreAnswers(container, moreButton));
    container.append(moreButton);
  }
}

// Source and dates go with every question; the server applies them before it searches.
function currentFilters() {
  const filters = {};
  const source = filterSource.value.trim();
  if (source) filters.source = source;
  if (filterSince.value) filters.since = filterSince.value;
  if (filterUntil.value) filters.until = filterUntil.value;
  return filters;
}

function describeFilters(filters) {
  const parts = [];
  if (filters.source) parts.push(`from ${filters.source}`);
  if (filters.since && filters.until) parts.push(`${filters.since} to ${filters.until}`);
  else if (filters.since) parts.push(`since ${filters.since}`);
  else if (filters.until) parts.push(`until ${filters.until}`);
  return parts.join(", ");
}

function showFilters() {
  const text = describeFilters(currentFilters());
  filtersSummary.textContent = text ? `· ${text}` : "";
  filtersBox.classList.toggle("active", Boolean(text));
}

// The sources offered are those of the newest articles; any other name can still be typed.
async function loadSources() {
  try {
    const page = await api("GET", "/articles?limit=100");
    const names = [...new Set(page.items.map((item) => item.source).filter(Boolean))].sort();
    document.getElementById("filter-sources").replaceChildren(
      ...names.map((name) => el("option", { value: name })));
  } catch {
    // Without suggestions the field still takes any source.
  }
}

function startTurn(question) {
  log.querySelector(".welcome")?.remove();
  for (const button of log.querySelectorAll("button.more")) button.remove();
  const turn = el("section", { class: "turn" }, el("p", { class: "question" }, question));
  const reply = el("div", { class: "reply" }, el("p", { class: "muted working" }, "Searching…"));
  turn.append(reply);
  log.append(turn);
  scrollToTurn(turn);
  return reply;
}

async function ask(question) {
  const reply = startTurn(question);
  askButton.disabled = true;
  try {
    // The server stores nothing unless asked: the first question starts the conversation.
    const filters = currentFilters();
    const body = { question, k: K, ...filters };
    if (conversationId) body.conversation_id = conversationId;
    else body.start_conversation = true;
    const onWait = () => {
      reply.replaceChildren(
        el("p", { class: "muted working" }, "The model is still loading; asking again in a moment…"));
    };
    let answerSet;
    try {
      answerSet = await api("POST", "/ask", body, onWait);
    } catch (error) {
      // The conversation expired on the server (404): ask again in a fresh one.
      if (error.status !== 404 || !body.conversation_id) throw error;
      showFocus(null, null);
      answerSet = await api("POST", "/ask",
        { question, k: K, ...filters, start_conversation: true }, onWait);
    }
    setConversation(answerSet.conversation_id);
    reply.replaceChildren();
    renderAnswers(reply, answerSet, { filters });
    scrollToTurn(reply.parentElement);
  } catch (error) {
    reply.replaceChildren(el("p", { class: "error" }, `Sorry, that failed: ${error.message}`));
  } finally {
    askButton.disabled = false;
    input.focus();
  }
}

async function moreAnswers(container, button) {
  button.disabled = true;
  try {
    const answerSet = await api("POST", `/conversations/${encodeURIComponent(conversationId)}/more`,
      { k: K });
    button.remove();
    renderAnswers(container, answerSet, { more: true });
  } catch (error) {
    button.disabled = false;
    container.append(el("p", { class: "error" }, `Sorry, that failed: ${error.message}`));
  }
}

async function setFocus(articleId, title) {
  try {
    if (!conversationId) return;
    await api("PUT", `/conversations/${encodeURIComponent(conversationId)}/focus`,
      { article_id: articleId });
    showFocus(articleId, title);
    input.focus();
  } catch (error) {
    log.append(el("p", { class: "error" }, `Sorry, that failed: ${error.message}`));
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question || askButton.disabled) return;
  if (question.length > MAX_QUESTION) {
    showNote(`Your question is ${question.length} characters long; the limit is ${MAX_QUESTION}. `
      + "Please shorten it.");
    return;
  }
  showNote(null);
  input.value = "";
  ask(question);
});

function showNote(text) {
  note.hidden = !text;
  note.textContent = text || "";
}

input.addEventListener("input", () => {
  if (input.value.length > MAX_QUESTION) {
    showNote(`${input.value.length} of ${MAX_QUESTION} characters: too long to ask.`);
  } else if (!note.hidden) {
    showNote(null);
  }
});

document.getElementById("focus-clear").addEventListener("click", () => setFocus(null, null));

for (const field of [filterSource, filterSince, filterUntil]) {
  field.addEventListener("input", showFilters);
}
document.getElementById("filters-clear").addEventListener("click", () => {
  filterSource.value = "";
  filterSince.value = "";
  filterUntil.value = "";
  showFilters();
});
filtersBox.addEventListener("toggle", () => {
  if (filtersBox.open && !filterSource.list.options.length) loadSources();
});

document.getElementById("new-chat").addEventListener("click", async () => {
  if (conversationId) {
    await api("DELETE", `/conversations/${encodeURIComponent(conversationId)}`).catch(() => null);
  }
  setConversation(null);
  showFocus(null, null);
  log.replaceChildren(el("p", { class: "muted" }, "New conversation. Ask away."));
  input.focus();
});

for (const button of document.querySelectorAll("button.example")) {
  button.addEventListener("click", () => ask(button.textContent));
}

function showEmptyIndex() {
  const welcome = log.querySelector(".welcome");
  if (!welcome) return;
  welcome.replaceChildren(
    el("p", {}, "There are no articles to ask about yet."),
    el("p", { class: "muted" }, "Add some on the server with ",
      el("code", {}, "newsqa ingest PATH"),
      " (.txt, .md or .jsonl files, or folders of them), or open ",
      el("strong", {}, "Articles"), " and add one with the admin key."),
  );
}

function refreshStats() {
  return api("GET", "/stats", undefined, () => {
    document.getElementById("stats").textContent = "Loading the model…";
  })
    .then((stats) => {
      document.getElementById("stats").textContent =
        `Quotes from ${stats.articles} article${stats.articles === 1 ? "" : "s"}`;
      if (stats.articles === 0) showEmptyIndex();
    })
    .catch(() => null);
}

refreshStats();

input.focus();
