// Argument validation shared by every public entry point.
import { fileURLToPath } from "node:url";

import { describe, invalidArgument, RingllmError } from "./errors";

export type Check = (value: unknown, name: string) => void;

/** Validates an options object: rejects non-objects and unknown keys, then runs each key's check. */
export function checkOptions(fn: string, options: unknown, checks: Record<string, Check>): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    invalidArgument(`${fn}: options`, "an object", options);
  }
  for (const key of Object.keys(options)) {
    if (!Object.prototype.hasOwnProperty.call(checks, key)) {
      const known = Object.keys(checks).join(", ");
      throw new RingllmError("INVALID_ARGUMENT", `${fn}: unknown option "${key}"; known options: ${known}`);
    }
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) checks[key](value, `${fn}: option "${key}"`);
  }
}

export const isBoolean: Check = (v, name) => {
  if (typeof v !== "boolean") invalidArgument(name, "a boolean", v);
};

export const isFunction: Check = (v, name) => {
  if (typeof v !== "function") invalidArgument(name, "a function", v);
};

export const isAbortSignal: Check = (v, name) => {
  if (!(v instanceof AbortSignal)) invalidArgument(name, "an AbortSignal", v);
};

export function isIntegerIn(min: number, max: number): Check {
  return (v, name) => {
    if (typeof v !== "number" || !(Number.isInteger(v) || v === Infinity) || v < min || v > max) {
      invalidArgument(name, `an integer from ${min} to ${max}`, v);
    }
  };
}

export function isOneOf(values: readonly string[]): Check {
  return (v, name) => {
    if (typeof v !== "string" || !values.includes(v)) invalidArgument(name, values.map((x) => `"${x}"`).join(", ").replace(/, ([^,]*)$/, " or $1"), v);
  };
}

/** A file path: a non-empty string without NUL, or a file: URL. Returns the path string. */
export function checkPath(fn: string, path: unknown): string {
  if (path instanceof URL) {
    if (path.protocol !== "file:") invalidArgument(`${fn}: path`, "a file path or a file: URL", path.href);
    return fileURLToPath(path);
  }
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new RingllmError(
      "INVALID_ARGUMENT",
      `${fn}: path must be a non-empty string (or file: URL) without NUL characters; received ${describe(path)}`,
    );
  }
  return path;
}

export function abortedError(fn: string, signal: AbortSignal): RingllmError {
  return new RingllmError("ABORTED", `${fn} was aborted`, { cause: signal.reason });
}
