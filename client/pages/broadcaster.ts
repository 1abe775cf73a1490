/**
 * The broadcaster page, GET /broadcast/:streamId. Query: `encoder=mediarecorder|webcodecs` forces
 * an encoder. Exposes `window.vezaBroadcaster` (the {@link LiveBroadcaster}) for tests.
 */
import { LiveBroadcaster, type BroadcasterStats } from "../browser/live-broadcaster";
import type { EncoderKind } from "../browser/frame-encoder";
import type { SourceChoice } from "../browser/audio-source";
import { assetUrl, byId, clock, plural, requireSecureContext, setMeter, setText, streamIdFromPath } from "./dom";

declare global {
  interface Window {
    vezaBroadcaster?: LiveBroadcaster;
  }
}

function stateText(s: BroadcasterStats["state"]): string {
  switch (s.state) {
    case "idle":
      return "off air";
    case "connecting":
      return "connecting…";
    case "live":
      return "live";
    case "retrying":
      return `connection lost (code ${s.closeCode}); retrying in ${(s.delayMs / 1000).toFixed(1)} s`;
    case "stopped":
      return "stopped";
    case "failed":
      return `refused: ${s.code}`;
  }
}

function main(): void {
  const streamId = streamIdFromPath();
  const el = {
    id: byId("stream-id"), form: byId<HTMLFormElement>("setup"), file: byId<HTMLInputElement>("file"), loop: byId<HTMLInputElement>("loop"),
    title: byId<HTMLInputElement>("title"), goLive: byId<HTMLButtonElement>("golive"), stop: byId<HTMLButtonElement>("stop"),
    update: byId<HTMLButtonElement>("update"), meter: byId("meter"), state: byId("state"), listeners: byId("listeners"),
    encoder: byId("encoder"), sent: byId("sent"), source: byId("source"), errors: byId("errors"), listen: byId<HTMLAnchorElement>("listen-link"),
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

  const sourceInputs = [...el.form.querySelectorAll<HTMLInputElement>('input[name="source"]')];
  const selectedSource = () => sourceInputs.find((i) => i.checked)?.value ?? "microphone";
  const syncSource = () => {
    const file = selectedSource() === "file";
    el.file.disabled = el.loop.disabled = !file || el.stop.disabled === false;
  };
  for (const input of sourceInputs) input.addEventListener("change", syncSource);

  const render = (s: BroadcasterStats): void => {
    setMeter(el.meter, s.rms, s.peak);
    setText(el.state, stateText(s.state));
    el.state.dataset.state = s.state.state;
    setText(el.listeners, plural(s.listeners, "listener"));
    setText(el.encoder, s.encoder === "webcodecs" ? "WebCodecs Opus" : s.encoder === "mediarecorder" ? "MediaRecorder WebM/Opus" : "–");
    setText(el.sent, `${clock(s.capturedMs)} (${Math.round(s.bytesSent / 1024)} KiB)`);
    setText(el.source, s.source ?? "–");
    const onAir = ["connecting", "live", "retrying"].includes(s.state.state);
    el.goLive.disabled = onAir;
    el.stop.disabled = !onAir;
    el.update.disabled = s.state.state !== "live";
    for (const input of [...sourceInputs, el.title]) input.disabled = onAir && input !== el.title;
    syncSource();
  };
  broadcaster.on("stats", render);
  broadcaster.on("error", (e) => {
    const li = document.createElement("li");
    li.textContent = `${new Date().toLocaleTimeString()} ${e.code}: ${e.message}`;
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
    el.goLive.disabled = true;
    broadcaster.goLive(choice, el.title.value.trim() || streamId).catch(() => render(broadcaster.stats()));
  });
  el.stop.addEventListener("click", () => void broadcaster.stop());
  el.update.addEventListener("click", () => broadcaster.updateTitle(el.title.value.trim() || streamId));
  render(broadcaster.stats());
}

main();
