/**
 * The broadcaster page, GET /broadcast/:streamId. Query: `encoder=mediarecorder|webcodecs` forces
 * an encoder. Exposes `window.vezaBroadcaster` (the {@link LiveBroadcaster}) for tests.
 *
 * Token (broadcasting needs one with a `publish` scope on the stream): a "Broadcaster token" field
 * (a password input, built here), filled from the link's fragment (`#token=…`, as `npm start`
 * prints it; then removed from the address bar, so copying the URL does not share it) or from the
 * last one typed (localStorage). A refused token (UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN) is
 * explained next to the field with how to mint one; a token that expires while on air is said
 * there too, and a new one pasted in the field is sent to the server at once (`auth.refresh`).
 */
import { LiveBroadcaster, type BroadcasterStats } from "../browser/live-broadcaster";
import type { EncoderKind } from "../browser/frame-encoder";
import type { SourceChoice } from "../browser/audio-source";
import type { AuthEvent } from "../core/auth";
import { isAuthErrorCode } from "../core/auth";
import { assetUrl, byId, clock, codeElement, fragmentToken, plural, requireSecureContext, setMeter, setText, streamIdFromPath } from "./dom";

declare global {
  interface Window {
    vezaBroadcaster?: LiveBroadcaster;
  }
}

/** The status fact: its words, and the server's error code (shown as code, never broken) if any. */
function stateText(s: BroadcasterStats["state"]): [string, string?] {
  switch (s.state) {
    case "idle":
      return ["off air"];
    case "connecting":
      return ["connecting…"];
    case "live":
      return ["live"];
    case "retrying":
      return [`connection lost (code ${s.closeCode}); retrying in ${(s.delayMs / 1000).toFixed(1)} s`];
    case "stopped":
      return ["stopped"];
    case "failed":
      return [s.afterLive ? "ended by the server:" : "refused:", s.code];
  }
}

/** "words <code>CODE</code>" in `el`, rebuilt only when it changed. */
function setCoded(el: HTMLElement, [words, code]: [string, string?]): void {
  const key = `${words}\u0000${code ?? ""}`;
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  if (code === undefined) el.replaceChildren(words);
  else el.replaceChildren(`${words} `, codeElement(code));
}

/** Where the page keeps the last token typed (this origin only). */
const TOKEN_KEY = "veza.broadcasterToken";

/** The token field and its note, inserted in the form before the buttons. */
function tokenField(form: HTMLFormElement): { input: HTMLInputElement; note: HTMLElement } {
  const label = document.createElement("label");
  label.htmlFor = "token";
  label.textContent = "Broadcaster token";
  const input = document.createElement("input");
  Object.assign(input, { id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: false, placeholder: "a token with publish on this stream" });
  // the stylesheet's text-input rule (gateway/web/style.css) does not name password inputs
  input.style.cssText = "font: inherit; min-height: 2.75rem; padding: .4rem .6rem; border: 1px solid var(--line); border-radius: .5rem; background: var(--bg); color: var(--fg); width: 100%;";
  const note = document.createElement("p");
  note.id = "token-note";
  note.className = "muted";
  note.setAttribute("role", "status");
  note.hidden = true;
  input.setAttribute("aria-describedby", note.id);
  const controls = form.querySelector(".controls");
  form.insertBefore(label, controls);
  form.insertBefore(input, controls);
  form.insertBefore(note, controls);
  return { input, note };
}

/** How to get a token for `streamId`, as words and a command (shown as code). */
function mintHint(streamId: string): Array<string | HTMLElement> {
  return ["Mint one with ", codeElement(`veza-stream token --scope publish:${streamId}`), " (or use the broadcaster token that npm start prints) and paste it here."];
}

/** The note for a token the server refused with `code`, or that is missing. */
function refusalNote(code: string, streamId: string, hadToken: boolean): Array<string | HTMLElement> {
  const why =
    !hadToken ? "Broadcasting needs a token." :
    code === "TOKEN_EXPIRED" ? "This token has expired." :
    code === "FORBIDDEN" ? `This token does not allow broadcasting on ${streamId}.` :
    "This token was not accepted (malformed, badly signed, unknown key or revoked).";
  return [...(hadToken ? ["Refused: ", codeElement(code), ". "] : []), `${why} `, ...mintHint(streamId)];
}

/** Local time of `exp` (seconds since the epoch). */
const at = (exp: number) => new Date(exp * 1000).toLocaleTimeString();

/** Bytes as whole KiB ("0 KiB" below 512 bytes). */
function kib(bytes: number): string {
  return `${Math.round(bytes / 1024)} KiB`;
}

function main(): void {
  const streamId = streamIdFromPath();
  const el = {
    id: byId("stream-id"), form: byId<HTMLFormElement>("setup"), file: byId<HTMLInputElement>("file"), loop: byId<HTMLInputElement>("loop"),
    title: byId<HTMLInputElement>("title"), goLive: byId<HTMLButtonElement>("golive"), stop: byId<HTMLButtonElement>("stop"),
    update: byId<HTMLButtonElement>("update"), meter: byId("meter"), state: byId("state"), listeners: byId("listeners"),
    encoder: byId("encoder"), sent: byId("sent"), sentLabel: byId("sent-label"), source: byId("source"), errors: byId("errors"), listen: byId<HTMLAnchorElement>("listen-link"),
  };
  setText(el.id, streamId);
  document.title = `Broadcast ${streamId} · veza-stream`;
  el.listen.href = `/listen/${encodeURIComponent(streamId)}`;
  setText(el.listen, `${location.origin}/listen/${streamId}`);
  const notice = document.createElement("li");
  if (!requireSecureContext(notice)) {
    el.errors.append(notice);
    el.goLive.disabled = true;
    return;
  }
  const params = new URLSearchParams(location.search);
  const broadcaster = new LiveBroadcaster({ streamId, workletUrl: assetUrl("capture-processor.js"), encoder: (params.get("encoder") as EncoderKind | null) ?? undefined });
  window.vezaBroadcaster = broadcaster;

  const token = tokenField(el.form);
  const fromLink = fragmentToken();
  if (fromLink) {
    localStorage.setItem(TOKEN_KEY, fromLink);
    history.replaceState(history.state, "", location.pathname + location.search); // out of the address bar and history
  }
  token.input.value = fromLink ?? localStorage.getItem(TOKEN_KEY) ?? "";
  /** The token the server has, or will get at Go live. */
  let sentToken = "";
  const showNote = (parts: Array<string | HTMLElement> | null, kind = "info"): void => {
    token.note.hidden = parts === null;
    token.note.dataset.kind = kind;
    token.note.className = kind === "error" ? "error" : "muted"; // .error: the stylesheet's colour for errors
    token.note.replaceChildren(...(parts ?? []));
  };
  token.input.addEventListener("input", () => {
    const value = token.input.value.trim();
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  });
  token.input.addEventListener("change", () => {
    const value = token.input.value.trim();
    if (!value || value === sentToken || broadcaster.stats().state.state !== "live") return;
    sentToken = value;
    void broadcaster.refreshToken(value).then((sent) => sent && showNote(["New token sent…"]));
  });
  broadcaster.on("auth", (e: AuthEvent) => {
    if (e.type === "expiring" && !e.refreshing) showNote([`This token expires at ${at(e.exp)}: the broadcast will be closed then. Paste a new one here to stay on air. `, ...mintHint(streamId)], "warning");
    else if (e.type === "refreshed") showNote([`Token renewed: valid until ${at(e.exp)}.`]);
  });

  const sourceInputs = [...el.form.querySelectorAll<HTMLInputElement>('input[name="source"]')];
  const selectedSource = () => sourceInputs.find((i) => i.checked)?.value ?? "microphone";
  const syncSource = () => {
    const file = selectedSource() === "file";
    el.file.disabled = el.loop.disabled = !file || el.stop.disabled === false;
  };
  for (const input of sourceInputs) input.addEventListener("change", syncSource);

  const render = (s: BroadcasterStats): void => {
    setMeter(el.meter, s.rms, s.peak);
    setCoded(el.state, stateText(s.state));
    el.state.dataset.state = s.state.state;
    const onAir = ["connecting", "live", "retrying"].includes(s.state.state);
    // the count is the server's: known only while live, not kept from before a drop or a stop
    setText(el.listeners, s.state.state === "live" ? plural(s.listeners, "listener") : "–");
    setText(el.encoder, s.encoder === "webcodecs" ? "WebCodecs Opus" : s.encoder === "mediarecorder" ? "MediaRecorder WebM/Opus" : "–");
    // time and bytes are both per broadcast: from Go live, kept after it ends until the next one
    setText(el.sentLabel, onAir ? "Sent, this broadcast" : s.state.state === "idle" ? "Sent" : "Sent, last broadcast");
    setText(el.sent, `${clock(s.capturedMs)} · ${kib(s.bytesSent)}`);
    setText(el.source, s.source ?? "–");
    el.goLive.disabled = onAir;
    el.stop.disabled = !onAir;
    el.update.disabled = s.state.state !== "live";
    for (const input of [...sourceInputs, el.title]) input.disabled = onAir && input !== el.title;
    syncSource();
  };
  broadcaster.on("stats", render);
  broadcaster.on("error", (e) => {
    if (isAuthErrorCode(e.code)) showNote(refusalNote(e.code, streamId, sentToken !== ""), "error");
    const li = document.createElement("li");
    li.append(`${new Date().toLocaleTimeString()} `, codeElement(e.code), `: ${e.message}`);
    el.errors.prepend(li);
    while (el.errors.children.length > 5) el.errors.lastElementChild?.remove();
  });

  el.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    let choice: SourceChoice = { kind: "microphone" };
    if (selectedSource() === "file") {
      const file = el.file.files?.[0];
      if (!file) {
        el.file.focus();
        return;
      }
      choice = { kind: "file", file, loop: el.loop.checked };
    }
    sentToken = token.input.value.trim();
    if (!sentToken) {
      showNote(refusalNote("UNAUTHORIZED", streamId, false), "error");
      token.input.focus();
      return;
    }
    if (token.note.dataset.kind === "error") showNote(null);
    broadcaster.setToken(sentToken);
    el.goLive.disabled = true;
    broadcaster.goLive(choice, el.title.value.trim() || streamId).catch(() => render(broadcaster.stats()));
  });
  el.stop.addEventListener("click", () => void broadcaster.stop());
  el.update.addEventListener("click", () => broadcaster.updateTitle(el.title.value.trim() || streamId));
  render(broadcaster.stats());
}

main();
