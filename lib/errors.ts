/**
 * Every error ringllm throws or rejects with is a RingllmError with a stable `code`.
 *
 * @example
 * try { await loadModel("missing.gguf"); }
 * catch (e) { if (e instanceof RingllmError && e.code === "ENOENT") console.error(e.message); }
 */
export type RingllmErrorCode =
  | "INVALID_ARGUMENT"
  | "ABORTED"
  | "ENOENT"
  | "EACCES"
  | "EISDIR"
  | "EIO"
  | "OUT_OF_MEMORY"
  | "MODEL_CLOSED"
  | "MODEL_UNSUPPORTED_TYPE"
  | "NATIVE_LOAD_FAILED"
  | "UNSUPPORTED"
  | "GGUF_BAD_MAGIC"
  | "GGUF_VERSION"
  | "GGUF_TRUNCATED"
  | "GGUF_BAD_COUNT"
  | "GGUF_BAD_LENGTH"
  | "GGUF_BAD_OFFSET"
  | "GGUF_BAD_TYPE"
  | "GGUF_BAD_VALUE"
  | "GGUF_BAD_SHAPE"
  | "GGUF_BAD_ALIGNMENT"
  | "GGUF_BAD_UTF8"
  | "GGUF_MISALIGNED"
  | "GGUF_OVERLAP"
  | "GGUF_DUPLICATE_KEY"
  | "GGUF_DUPLICATE_TENSOR"
  | "CONTEXT_FULL"
  | "CONTEXT_BUSY"
  | "CONTEXT_CLOSED"
  | "CONTEXT_REWIND"
  | "CHAT_TEMPLATE_ERROR"
  | "STATE_MISMATCH"
  | "GRAMMAR_INVALID"
  | "SCHEMA_UNSUPPORTED"
  | "STATE_CORRUPT"
  | "MODEL_UNSUPPORTED_ARCH"
  | "MODEL_INVALID"
  | "TOKENIZER_MISSING"
  | "TOKENIZER_UNSUPPORTED"
  | "TOKENIZER_INVALID"
  | "GPU_UNAVAILABLE"
  | "GPU_UNSUPPORTED"
  | "GPU_OUT_OF_MEMORY"
  | "GPU_FAILED"
  | "DOWNLOAD_FAILED"
  | "DOWNLOAD_CORRUPT"
  | "INTERNAL";

export class RingllmError extends Error {
  readonly code: RingllmErrorCode;

  constructor(code: RingllmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RingllmError";
    this.code = code;
  }
}

/** Throws INVALID_ARGUMENT with a message naming what was expected and what was received. */
export function invalidArgument(what: string, expected: string, received: unknown): never {
  throw new RingllmError("INVALID_ARGUMENT", `${what} must be ${expected}; received ${describe(received)}`);
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? value.slice(0, 57) + "..." : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

/**
 * Converts an error from the native addon (an Error with a string `code`) into a RingllmError
 * whose stack points at the caller's call site rather than at the promise machinery.
 */
export function fromNative(err: unknown, callSite?: Error): RingllmError {
  if (err instanceof RingllmError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? (e.code as RingllmErrorCode) : "INTERNAL";
  const message = typeof e?.message === "string" ? e.message : String(err);
  const out = new RingllmError(code, message, { cause: err });
  if (callSite?.stack) {
    const frames = callSite.stack.split("\n").slice(1).join("\n");
    out.stack = `RingllmError: ${message}\n${frames}`;
  }
  return out;
}
