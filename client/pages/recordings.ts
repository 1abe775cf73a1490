/**
 * The player page's list of the stream's recordings (GET /api/recordings?stream=), each played in
 * an <audio> element from its whole Ogg/Opus file (GET /recordings/:stream/:id.opus, which the
 * browser reads with Range requests as it seeks). The list stays hidden when there is none, or
 * when the API refuses (no listen token with LISTEN_AUTH=token).
 */
import { byId, setText } from "./dom";

interface RecordingSummary {
  id: string;
  title: string;
  startedAt: string;
  endedAt: string | null;
  durationS: number;
  gaps: number;
  url: string;
}

/** "12:03 · 1:02:05" from a start time and a duration in seconds. */
function label(r: RecordingSummary): string {
  const s = Math.round(r.durationS);
  const hms = `${Math.floor(s / 3600) ? `${Math.floor(s / 3600)}:` : ""}${String(Math.floor(s / 60) % 60).padStart(Math.floor(s / 3600) ? 2 : 1, "0")}:${String(s % 60).padStart(2, "0")}`;
  return `${new Date(r.startedAt).toLocaleString()} · ${hms}${r.endedAt ? "" : " · recording"}${r.gaps ? ` · ${r.gaps} gap${r.gaps > 1 ? "s" : ""}` : ""}`;
}

export async function showRecordings(streamId: string, token: string | undefined): Promise<void> {
  const section = byId("recordings-section");
  const list = byId("recordings");
  const audio = byId<HTMLAudioElement>("recording-audio");
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let recordings: RecordingSummary[];
  try {
    const res = await fetch(`/api/recordings?stream=${encodeURIComponent(streamId)}`, { headers });
    if (!res.ok) return;
    recordings = (await res.json()) as RecordingSummary[];
  } catch {
    return;
  }
  if (recordings.length === 0) return;
  list.replaceChildren(
    ...recordings.map((r) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.recording = r.id;
      setText(button, `▶ ${label(r)}`);
      button.addEventListener("click", () => {
        audio.hidden = false;
        audio.src = token ? `${r.url}?token=${encodeURIComponent(token)}` : r.url;
        void audio.play().catch(() => undefined);
      });
      item.append(button);
      return item;
    }),
  );
  section.hidden = false;
}
