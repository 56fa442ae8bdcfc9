// The library's logger: warnings (e.g. an unknown pre-tokenizer) go through here.
export type LogLevel = "warn" | "info" | "debug";
export type Logger = (level: LogLevel, message: string) => void;

const defaultLogger: Logger = (level, message) => {
  if (level === "warn") process.emitWarning(message, { code: "RINGLLM_WARNING" });
};

let current: Logger | null = defaultLogger;

/**
 * Replaces the logger (default: warnings become Node process warnings). `null` silences ringllm.
 *
 * @example
 * setLogger((level, message) => myLog[level](message));
 */
export function setLogger(logger: Logger | null): void {
  if (logger !== null && typeof logger !== "function") {
    throw new TypeError("setLogger: logger must be a function or null");
  }
  current = logger;
}

export function log(level: LogLevel, message: string): void {
  current?.(level, message);
}
