// The console's entry: sign-in, the navigation, the event stream and the page router.

import { api, h, loadMessages, state, t } from "./core.js";
import { renderBoard, onTaskEvent } from "./board.js";
import { renderDirectives } from "./directives.js";
import { renderMap } from "./map.js";
import { renderStats } from "./stats.js";
import { renderTask } from "./task.js";

const main = document.getElementById("main");
let events = null;

function setLive(on) {
  const live = document.getElementById("live");
  live.className = `live ${on ? "on" : "off"}`;
  live.textContent = on ? t("Live") : t("Disconnected, reconnecting…");
  live.dataset.state = on ? "on" : "off";
}

function openEvents() {
  if (events) events.close();
  events = new EventSource("/console/api/events");
  events.onopen = () => setLive(true);
  events.onerror = () => setLive(false);
  events.addEventListener("task", (message) => onTaskEvent(JSON.parse(message.data)));
}

function renderShell() {
  document.getElementById("title").textContent = t("Command centre console");
  document.title = t("Command centre console");
  const labels = { map: "Map", board: "Task board", directives: "Directives", stats: "Statistics" };
  for (const link of document.querySelectorAll("#nav a")) link.textContent = t(labels[link.dataset.nav]);
  document.getElementById("nav").hidden = !state.user;
  const logout = document.getElementById("logout");
  logout.hidden = !state.user;
  logout.textContent = t("Sign out");
  document.getElementById("who").textContent = state.user ? t("Signed in as {user}", { user: state.user.username }) : "";
  document.getElementById("language").value = state.locale;
}

function renderLogin() {
  const error = h("p", { class: "error", id: "login-error", role: "alert" });
  const form = h(
    "form",
    { id: "login-form" },
    h("label", {}, t("User name"), h("input", { name: "username", autocomplete: "username", required: true })),
    h("label", {}, t("Password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit" }, t("Sign in")),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const user = await api("/console/api/login", {
        method: "POST",
        body: { username: data.get("username"), password: data.get("password") },
      });
      await signedIn(user);
    } catch (failure) {
      error.textContent = signInError(failure);
    }
  });
  main.replaceChildren(
    h("section", { class: "panel login" }, h("h2", {}, t("Command centre console")),
      h("p", { class: "muted" }, t("One net for supervision, one picture for evaluation")), form),
  );
}

function signInError(failure) {
  if (failure.status === 401) return t("The user name or password is wrong.");
  if (failure.status === 429) return t("This account is locked after too many wrong passwords. Try again in 15 minutes.");
  return failure.message;
}

async function signedIn(user) {
  state.user = user;
  state.csrf = user.csrf_token;
  if (user.language && user.language !== state.locale) await loadMessages(user.language);
  renderShell();
  openEvents();
  if (!location.hash || location.hash === "#/login") location.hash = "#/board";
  else route();
}

async function route() {
  if (!state.user) return renderLogin();
  const [, page, id] = location.hash.split("/");
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.nav === page);
  const pages = {
    map: () => renderMap(main),
    board: () => renderBoard(main),
    task: () => renderTask(main, id),
    directives: () => renderDirectives(main),
    stats: () => renderStats(main),
  };
  await (pages[page] || pages.board)();
}

async function changeLanguage(locale) {
  await loadMessages(locale);
  localStorage.setItem("gd-console-language", locale);
  if (state.user) {
    state.user.language = locale;
    await api("/console/api/language", { method: "POST", body: { language: locale } });
  }
  renderShell();
  await route();
}

async function logout() {
  await api("/console/api/logout", { method: "POST" });
  if (events) events.close();
  state.user = null;
  renderShell();
  location.hash = "#/login";
  renderLogin();
}

async function start() {
  await loadMessages(localStorage.getItem("gd-console-language") || "zh_CN");
  document.getElementById("language").addEventListener("change", (event) => changeLanguage(event.target.value));
  document.getElementById("logout").addEventListener("click", logout);
  window.addEventListener("hashchange", route);
  try {
    await signedIn(await api("/console/api/me"));
  } catch {
    renderShell();
    renderLogin();
  }
}

start();
