/** The part of m3u8-parser 7 (no types of its own) that the playlist tests and bench/ladder read. */
declare module "m3u8-parser" {
  export interface ParsedPart {
    duration: number;
    uri: string;
    independent?: boolean;
  }
  export interface ParsedSegment {
    duration: number;
    uri: string;
    timeline: number;
    discontinuity?: boolean;
    programDateTime?: number;
    /** EXT-X-PROGRAM-DATE-TIME as written (ISO 8601). */
    dateTimeString?: string;
    parts?: ParsedPart[];
    map?: { uri: string };
    preloadHints?: Array<{ type: string; uri: string }>;
  }
  export interface ParsedManifest {
    targetDuration?: number;
    mediaSequence?: number;
    discontinuitySequence?: number;
    endList?: boolean;
    version?: number;
    partInf?: { partTarget: number };
    serverControl?: { canBlockReload?: boolean; partHoldBack?: number };
    preloadSegment?: ParsedSegment;
    segments: ParsedSegment[];
    playlists?: Array<{ uri: string; attributes: { BANDWIDTH?: number; CODECS?: string } }>;
  }
  export class Parser {
    manifest: ParsedManifest;
    push(chunk: string): void;
    end(): void;
    on(event: "warn" | "info", fn: (e: { message: string }) => void): void;
  }
}
