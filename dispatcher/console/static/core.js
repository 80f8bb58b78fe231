// Shared state, translation, requests to the console's JSON routes, and DOM helpers.

export const state = { user: null, csrf: "", messages: {}, labels: {}, locale: "zh_CN" };

export function t(message, values = {}) {
  const text = state.messages[message] || message;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

// The name of a task state, kind, priority or trail entry: label("state", "new").
export function label(table, key) {
  return (state.labels[table] || {})[key] || key;
}

export async function loadMessages(locale) {
  const response = await fetch(`/console/i18n.json?lang=${encodeURIComponent(locale)}`);
  const body = await response.json();
  state.messages = body.messages;
  state.labels = body.labels;
  state.locale = body.locale;
  document.documentElement.lang = body.locale === "en" ? "en" : "zh-CN";
}

export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", "Accept-Language": state.locale === "en" ? "en" : "zh-CN" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    throw new ApiFailure(response.status, error.code || "error", error.message || response.statusText);
  }
  return data;
}

// Build an element: h("td", {class: "x", onclick: fn}, "text", child, ...).
export function h(tag, attributes = {}, ...children) {
  const svg = ["svg", "g", "path", "circle", "rect", "line", "text", "polygon", "title"].includes(tag);
  const element = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function showError(container, error) {
  container.replaceChildren(h("p", { class: "error", role: "alert" }, t("Error: {message}", { message: error.message })));
}

export function formatTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(state.locale === "en" ? "en-GB" : "zh-CN", {
    timeZone: "Asia/Shanghai",
    hour12: false,
  });
}

export function options(values, selected, { any = true } = {}) {
  const list = any ? [h("option", { value: "" }, t("Any"))] : [];
  for (const [value, label] of values) {
    list.push(h("option", { value, selected: value === selected }, label));
  }
  return list;
}

let divisionCache = null;
export async function divisions() {
  if (divisionCache === null) divisionCache = await api("/console/api/divisions");
  return divisionCache;
}

export function divisionOptions(list, selected, { any = true } = {}) {
  const indent = { city: "", county: "· ", township: "·· ", grid: "··· " };
  return options(
    list.map((d) => [d.code, `${indent[d.level] || ""}${d.name} (${d.code})`]),
    selected,
    { any },
  );
}
