/**
 * Types of the AudioWorkletGlobalScope (Web Audio §1.32), which TypeScript's DOM library does not
 * describe. Processors read the scope through {@link workletScope} rather than global declarations,
 * so page code cannot mistake `sampleRate` or `currentFrame` for globals of its own.
 */

export interface AudioWorkletProcessorBase {
  readonly port: MessagePort;
}

export interface AudioWorkletScope {
  AudioWorkletProcessor: new (options?: unknown) => AudioWorkletProcessorBase;
  registerProcessor(name: string, ctor: new (options: AudioWorkletNodeOptionsLike) => AudioWorkletProcessorBase): void;
  /** The context's sample rate, Hz. */
  sampleRate: number;
  /** Sample frame of the render quantum being processed (the context's sample clock). */
  currentFrame: number;
  /** Context time of the render quantum being processed, s. */
  currentTime: number;
}

export interface AudioWorkletNodeOptionsLike {
  processorOptions?: unknown;
}

export const workletScope = globalThis as unknown as AudioWorkletScope;

/** Sum of squares and peak of the samples in `planes` (for level meters). */
export function levels(planes: Float32Array[], into: { sumSquares: number; samples: number; peak: number }): void {
  for (const p of planes) {
    for (let i = 0; i < p.length; i++) {
      const x = p[i] ?? 0;
      into.sumSquares += x * x;
      const a = Math.abs(x);
      if (a > into.peak) into.peak = a;
    }
    into.samples += p.length;
  }
}
