import { native } from "./native";

export interface GgmlTypeInfo {
  id: number;
  /** e.g. "Q4_K" */
  name: string;
  /** elements per block */
  blockSize: number;
  /** bytes per block */
  blockBytes: number;
  /** whether this version of ringllm can compute with the type */
  computable: boolean;
}

/** The ggml tensor types ringllm knows (every type id in use in GGUF files today). */
export function ggmlTypes(): GgmlTypeInfo[] {
  return native().ggmlTypes();
}
