/**
 * ringllm: run GGUF language models locally from Node.js.
 *
 * @example
 * import { loadModel } from "ringllm";
 * const model = await loadModel("model.gguf");
 * console.log(model.architecture, model.hparams);
 * await model.close();
 * const tiny = await loadModel(); // the embedded default model, defaultModelPath()
 */
export { RingllmError } from "./errors";
export type { RingllmErrorCode } from "./errors";
export { readGgufInfo } from "./gguf";
export type { GgufInfo, MetadataArrayRef, MetadataValue, ReadGgufInfoOptions, TensorInfo } from "./gguf";
export type { HyperParameters } from "./hparams";
export { Context } from "./context";
export { applyChatTemplate, chatFormats, defaultChatFormat } from "./chat-template";
export type { ApplyChatTemplateOptions, ChatMessage, ChatTool, ChatToolCall } from "./chat-template";
export { Chat } from "./chat";
export type { ChatChunk, ChatOptions, ChatReply, ChatSendOptions, ChatStats } from "./chat";
export { parseToolCalls } from "./tool-calls";
export { Grammar } from "./grammar/index";
export type { ParsedReply, ToolCall } from "./tool-calls";
export type {
  BatchStats, ContextOptions, ContextStats, GenerateOptions, GenerateResult, GeneratedChunk, KvLayerStats, KvOptions, KvPolicyName, KvTypeName, PromptProgress,
} from "./context";
export { createServer, Server } from "./server";
export type { ServerOptions } from "./server";
export { setLogger } from "./log";
export type { Logger, LogLevel } from "./log";
export { loadModel, Model } from "./model";
export { defaultModelPath } from "./default-model";
export type { DetokenizeOptions, EmbedOptions, LoadModelOptions, MemoryEstimate, ModelGpu, TokenizeOptions } from "./model";
export { TokenDecoder, TokenType, Vocab } from "./vocab";
export { listGpus, systemInfo } from "./system";
export { defaultModelsDir, downloadModel } from "./download";
export type { DownloadOptions, DownloadResult } from "./download";
export type { GpuDevice, KernelTier, SystemInfo } from "./system";
export { ggmlTypes } from "./types";
export type { GgmlTypeInfo } from "./types";
