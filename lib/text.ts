// Small text helpers shared by streaming code.

/**
 * Length of the longest suffix of `text` that is a proper prefix of one of `markers`: what a
 * stream must hold back until the next piece says whether a marker (a stop string, "<think>")
 * begins there.
 */
export function partialMarkerLength(text: string, markers: readonly string[]): number {
  let keep = 0;
  for (const m of markers) {
    for (let k = Math.min(m.length - 1, text.length); k > keep; k--) {
      if (text.endsWith(m.slice(0, k))) {
        keep = k;
        break;
      }
    }
  }
  return keep;
}
