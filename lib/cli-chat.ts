// `ringllm chat`: interactive on a terminal (streamed replies, /commands, Ctrl-C stops a reply, a
// second Ctrl-C or Ctrl-D exits); without a terminal, one message per line in and one reply per
// line out, so scripts can drive it.
import { existsSync, readFileSync } from "node:fs";
import * as readline from "node:readline";

import type { Chat } from "./chat";
import { chatFormats } from "./chat-template";
import type { ContextOptions, GenerateOptions } from "./context";
import { defaultModelPath } from "./default-model";
import { RingllmError } from "./errors";
import { loadModel, type LoadModelOptions } from "./model";

export interface ChatCliOptions {
  model?: string;
  system?: string;
  template?: string;
  keepSystem: boolean;
  context: ContextOptions;
  gpu?: Pick<LoadModelOptions, "gpu" | "gpuDevice" | "gpuLayers">;
  sampling: GenerateOptions;
}

const HELP = [
  "/reset          forget the conversation (the system prompt stays)",
  "/save <file>    write the conversation (JSON) and the context state (<file>.state)",
  "/load <file>    continue a conversation saved with /save, without evaluating it again",
  "/stats          tokens reused and evaluated, KV cache use",
  "/exit           leave (also Ctrl-D, or Ctrl-C twice)",
].join("\n");

// Runs a /command; returns the text to print, or null to exit.
async function command(chat: Chat, line: string): Promise<string | null> {
  const [name, ...rest] = line.trim().split(/\s+/);
  const arg = rest.join(" ");
  switch (name) {
    case "/exit":
    case "/quit":
      return null;
    case "/help":
      return HELP;
    case "/reset":
      await chat.reset();
      return "(conversation cleared)";
    case "/stats": {
      const s = chat.stats();
      const c = chat.context.stats();
      const held = c.layers.length > 0 ? `${c.layers[0].held}/${c.layers[0].capacity} (${c.layers[0].policy})` : "-";
      return `turns ${s.turns}, tokens reused ${s.reusedTokens}, evaluated ${s.evaluatedTokens}, generated ${s.generatedTokens}, ` +
        `turns dropped ${s.truncatedTurns}; context ${c.tokensProcessed} tokens, KV ${c.kvBytes} bytes, layer 0 holds ${held}`;
    }
    case "/save": {
      if (!arg) return "usage: /save <file>";
      await chat.save(arg);
      return `(saved ${chat.messages.length} messages to ${arg}, the context state to ${arg}.state)`;
    }
    case "/load": {
      if (!arg) return "usage: /load <file>";
      await chat.load(arg);
      return `(loaded ${chat.messages.length} messages from ${arg})`;
    }
    default:
      return `unknown command ${name}; /help lists them`;
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof RingllmError && err.code === "ABORTED";
}

async function interactive(chat: Chat, sampling: GenerateOptions, banner: string): Promise<void> {
  const out = process.stdout;
  const rl = readline.createInterface({ input: process.stdin, output: out, prompt: "> ", terminal: true });
  let current: AbortController | null = null;
  let armed = false; // a Ctrl-C at the prompt: the next one exits
  rl.on("SIGINT", () => {
    if (current) {
      current.abort();
      return;
    }
    if (armed) {
      rl.close();
      return;
    }
    armed = true;
    out.write("\n(Ctrl-C again or Ctrl-D to exit)\n");
    rl.prompt();
  });
  out.write(banner + "\n");
  rl.prompt();
  for await (const line of rl) {
    armed = false;
    const text = line.trim();
    if (text.startsWith("/")) {
      try {
        const reply = await command(chat, text);
        if (reply === null) break;
        out.write(reply + "\n");
      } catch (err) {
        out.write(`error: ${(err as Error).message}\n`);
      }
    } else if (text) {
      current = new AbortController();
      let thinking = false;
      try {
        for await (const chunk of chat.send(text, { ...sampling, signal: current.signal })) {
          if (chunk.reasoning) {
            if (!thinking) out.write("\x1b[2m");
            thinking = true;
            out.write(chunk.reasoning);
          }
          if (chunk.text) {
            if (thinking) out.write("\x1b[22m\n");
            thinking = false;
            out.write(chunk.text);
          }
        }
      } catch (err) {
        if (!isAbort(err)) out.write(`\nerror: ${(err as Error).message}`);
        else out.write(" (stopped)");
      } finally {
        if (thinking) out.write("\x1b[22m");
        current = null;
      }
      out.write("\n");
    }
    rl.prompt();
  }
  rl.close();
  out.write("\n");
}

async function piped(chat: Chat, sampling: GenerateOptions): Promise<void> {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    const text = line.trim();
    if (!text) continue;
    if (text.startsWith("/")) {
      const reply = await command(chat, text);
      if (reply === null) break;
      process.stderr.write(reply + "\n");
      continue;
    }
    const reply = await chat.ask(text, sampling);
    process.stdout.write(reply.content.replace(/\n+/g, " ").trim() + "\n");
  }
}

export async function runChat(o: ChatCliOptions): Promise<void> {
  let template = o.template;
  if (template !== undefined && !chatFormats.includes(template)) {
    if (!existsSync(template)) {
      throw new RingllmError("INVALID_ARGUMENT", `--template: "${template}" is neither a file nor one of ${chatFormats.join(", ")}`);
    }
    template = readFileSync(template, "utf8");
  }
  const model = await loadModel(o.model ?? defaultModelPath(), o.gpu);
  try {
    const chat = await model.createChat({ ...o.context, system: o.system, template, keepSystem: o.keepSystem });
    try {
      if (process.stdin.isTTY && process.stdout.isTTY) {
        const name = typeof model.metadata["general.name"] === "string" ? model.metadata["general.name"] : "model";
        await interactive(chat, o.sampling, `ringllm chat with ${name}: /help for commands, Ctrl-C stops a reply, Ctrl-D exits`);
      } else {
        await piped(chat, o.sampling);
      }
    } finally {
      await chat.close();
    }
  } finally {
    await model.close();
  }
}
