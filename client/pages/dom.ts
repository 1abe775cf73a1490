/** Small DOM helpers shared by the pages. */

/** The element with `id`. @throws if the page lacks it (a template and script out of step). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el as T;
}

/** Sets an element's text only when it changed (no needless layout or screen-reader chatter). */
export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** An error code as a <code class="code"> element (the stylesheet keeps it whole where it fits). */
export function codeElement(code: string): HTMLElement {
  const c = document.createElement("code");
  c.className = "code";
  c.textContent = code;
  return c;
}

/** The stream id in a path such as /listen/:streamId or /broadcast/:streamId. */
export function streamIdFromPath(): string {
  return decodeURIComponent(location.pathname.split("/")[2] ?? "");
}

/** URL of a bundled asset served by the gateway. */
export function assetUrl(name: string): string {
  return `/assets/${name}`;
}

/** Floor of the level meters, dBFS. */
const METER_FLOOR_DB = -60;

/** Linear RMS → dBFS, clamped to the meter's floor. */
export function toDbfs(rms: number): number {
  return rms > 0 ? Math.max(METER_FLOOR_DB, 20 * Math.log10(rms)) : METER_FLOOR_DB;
}

/** Shows a level on a role="meter" element whose first child is the bar. */
export function setMeter(meter: HTMLElement, rms: number, peak: number): void {
  const db = toDbfs(rms);
  const width = `${(100 * (db - METER_FLOOR_DB)) / -METER_FLOOR_DB}%`;
  const bar = meter.firstElementChild as HTMLElement | null;
  if (bar && bar.style.width !== width) bar.style.width = width;
  meter.classList.toggle("clip", peak >= 0.99);
  meter.setAttribute("aria-valuenow", db.toFixed(0));
  meter.setAttribute("aria-valuetext", rms > 0 ? `${db.toFixed(0)} dB` : "silent");
}

/** "3 listeners", "1 listener". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** mm:ss of a duration in ms. */
export function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Shows or hides the page's "needs a secure context" notice; returns whether the page can work. */
export function requireSecureContext(notice: HTMLElement): boolean {
  if (window.isSecureContext) return true;
  notice.hidden = false;
  notice.textContent = "This page needs a secure context (HTTPS, or http://localhost): browsers only give audio worklets, WebCodecs and the microphone to secure pages.";
  return false;
}

/** `token` from the page's fragment (`#token=…`), else null. A fragment never reaches the server's logs. */
export function fragmentToken(): string | null {
  return new URLSearchParams(location.hash.replace(/^#/, "")).get("token")?.trim() || null;
}
