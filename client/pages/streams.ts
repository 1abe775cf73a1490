/**
 * The stream list, GET /: every stream the cluster knows (GET /api/streams), live ones first,
 * with title and listener count, refreshed every 2 s; a form opens the broadcaster page.
 * On a node with `LISTEN_AUTH=token` the list needs a listener token: `?token=` or `#token=` on the
 * page's URL, sent as `Authorization: Bearer` and passed on to the player links (`#token=`).
 */
import type { StreamInfo } from "../../media/wire/control";
import { byId, fragmentToken, plural, setText } from "./dom";

/** The listener token of the page's URL, if any. */
const TOKEN = new URLSearchParams(location.search).get("token")?.trim() || fragmentToken() || null;

/** Refresh interval of the list, ms. */
const REFRESH_MS = 2000;

const ORDER: Record<StreamInfo["state"], number> = { live: 0, offline: 1, ended: 2 };

function row(s: StreamInfo): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "stream";
  li.dataset.streamId = s.streamId;
  li.dataset.state = s.state;
  const title = document.createElement("a");
  title.href = `/listen/${encodeURIComponent(s.streamId)}${TOKEN ? `#token=${encodeURIComponent(TOKEN)}` : ""}`;
  title.className = "stream-title";
  title.textContent = s.title || s.streamId;
  const facts = document.createElement("p");
  facts.className = "stream-facts";
  const state = document.createElement("span");
  state.className = "badge";
  state.dataset.state = s.state;
  state.textContent = s.state;
  const listeners = document.createElement("span");
  listeners.className = "listeners";
  listeners.textContent = plural(s.listeners, "listener");
  const id = document.createElement("code");
  id.textContent = s.streamId;
  const broadcast = document.createElement("a");
  broadcast.href = `/broadcast/${encodeURIComponent(s.streamId)}`;
  broadcast.textContent = "broadcast";
  broadcast.setAttribute("aria-label", `broadcast on ${s.streamId}`);
  facts.append(state, " ", listeners, " · ", id, " · ", broadcast);
  li.append(title, facts);
  return li;
}

/**
 * Loads the list and shows it. When loading fails the list shown is kept but marked stale
 * (`data-stale`, dimmed) with the time it was loaded: its states and listener counts are old news.
 */
async function refresh(list: HTMLElement, empty: HTMLElement, updated: HTMLElement, last: { json: string; at: string }): Promise<void> {
  try {
    const res = await fetch("/api/streams", { cache: "no-store", headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {} });
    if (res.status === 401 || res.status === 403) throw new Error(`HTTP ${res.status}: this node's stream list needs a listener token: open the page with #token=…`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const streams = ((await res.json()) as StreamInfo[]).sort((a, b) => ORDER[a.state] - ORDER[b.state] || b.listeners - a.listeners || a.streamId.localeCompare(b.streamId));
    const json = JSON.stringify(streams);
    if (json !== last.json) {
      last.json = json;
      list.replaceChildren(...streams.map(row));
      empty.hidden = streams.length > 0;
    }
    last.at = new Date().toLocaleTimeString();
    setText(updated, `Updated ${last.at}`);
    delete list.dataset.stale;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    list.dataset.stale = "true";
    setText(updated, last.at ? `Could not load the list (${why}); showing it as of ${last.at}, retrying.` : `Could not load the list (${why}); retrying.`);
  }
}

function main(): void {
  const list = byId("streams");
  const empty = byId("empty");
  const updated = byId("updated");
  const last = { json: "", at: "" };
  const tick = () => void refresh(list, empty, updated, last).finally(() => setTimeout(tick, REFRESH_MS));
  tick();
  const form = byId<HTMLFormElement>("new");
  const input = byId<HTMLInputElement>("new-id");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (input.reportValidity()) location.href = `/broadcast/${encodeURIComponent(input.value)}`;
  });
}

main();
