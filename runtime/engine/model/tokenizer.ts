// Tokenizers come from Hugging Face tokenizer.json files, run by @huggingface/tokenizers
// (a maintained implementation of the same format), so every model — a downloaded Qwen2
// or the project's own tiny models — goes through one path.
import { Tokenizer } from "@huggingface/tokenizers";
import { ChatTemplate, type ChatMessage, promptMessages } from "./chat-template.js";
import { CheckpointError } from "./safetensors.js";

export interface PromptFormat {
  chat: boolean;
  /** The system message of a chat prompt; null for none. */
  system: string | null;
}

export const PLAIN_PROMPT: PromptFormat = { chat: false, system: null };

export class TextTokenizer {
  private readonly tok: Tokenizer;
  /** id -> token string, for rendering trajectories token by token. */
  private readonly pieces: string[];
  private readonly ids: Map<string, number>;
  readonly vocabSize: number;
  readonly bosId: number | null;
  /** Ids that end a response: tokenizer_config's eos_token and generation_config's eos_token_id(s). */
  readonly eosIds: number[];
  readonly padId: number | null;
  /** tokenizer_config.json's chat_template; null for a model without one. */
  readonly chatTemplate: ChatTemplate | null;
  /**
   * How prompts are written for this run (the pipeline's prompt setting): plain text after
   * the BOS token, or through the chat template with an optional system message. Set by
   * whoever loads the policy for a pipeline; promptIds (runtime/loop/eval/evaluate.ts) reads it.
   */
  promptFormat: PromptFormat = PLAIN_PROMPT;

  constructor(
    readonly json: Record<string, unknown>,
    readonly config: Record<string, unknown> = {},
    source = "tokenizer.json",
    generationConfig: Record<string, unknown> = {},
  ) {
    // Our own checks first, so that the common malformations get a message that says which field.
    this.pieces = tokenPieces(json, source);
    try {
      this.tok = new Tokenizer(json as never, config as never);
    } catch (e) {
      throw new CheckpointError(`${source}: cannot build a tokenizer (${(e as Error).message})`);
    }
    this.vocabSize = this.pieces.length;
    this.ids = new Map();
    this.pieces.forEach((p, i) => this.ids.set(p, i));
    const idOf = (key: string): number | null => {
      const v = config[key];
      const s = typeof v === "string" ? v : (v as { content?: string } | undefined)?.content;
      return s === undefined ? null : (this.tokenToId(s) ?? null);
    };
    this.bosId = idOf("bos_token");
    const eos = idOf("eos_token");
    const configDir = source.replace(/[^/]*$/, "");
    // Instruction-tuned models end a turn with a token other than eos_token (Llama 3's
    // <|eot_id|>, Qwen's <|im_end|> next to <|endoftext|>): generation_config lists them all.
    this.eosIds = [...new Set([...(eos === null ? [] : [eos]), ...generationEosIds(generationConfig, this.vocabSize, `${configDir}generation_config.json`)])];
    this.padId = idOf("pad_token");
    this.chatTemplate = ChatTemplate.fromConfig(config, `${configDir}tokenizer_config.json`);
  }

  /**
   * Token ids of a prompt: through the chat template when `chat` (a system message first
   * when given; the template opens the assistant's turn), else the text after the BOS token.
   * The template writes the BOS itself where the model wants one.
   */
  promptIds(prompt: string, o: { chat: boolean; system?: string | null } = PLAIN_PROMPT): number[] {
    if (o.chat) {
      if (this.chatTemplate === null) throw new CheckpointError("the prompt asks for the chat template but tokenizer_config.json has no chat_template (a base model?); turn chat off");
      return this.encode(this.chatTemplate.render(promptMessages(prompt, o.system ?? null)));
    }
    return [...(this.bosId !== null ? [this.bosId] : []), ...this.encode(prompt)];
  }

  /** The chat template's text for `messages` (tests and `acpo sample` show it). */
  renderChat(messages: ChatMessage[], addGenerationPrompt = true): string {
    if (this.chatTemplate === null) throw new CheckpointError("tokenizer_config.json has no chat_template");
    return this.chatTemplate.render(messages, addGenerationPrompt);
  }

  /** Token ids of `text` (no special tokens added). */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * The text of `ids`, exactly as the model wrote it: decode(encode(s)) === s. The
   * tokenizer_config's clean_up_tokenization_spaces (true for Llama 3, and the library's
   * default when the key is absent) is not applied: it deletes the space in " ." and " 's",
   * so the text a verifier and segmentation see would differ from the tokens trained on.
   */
  decode(ids: ArrayLike<number>, skipSpecialTokens = false): string {
    // The library refuses an empty list; an empty response is the empty text.
    if (ids.length === 0) return "";
    return this.tok.decode(Array.from(ids), { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  /**
   * Per-token text for segmentation: pieces[t] is the text token t adds, and
   * pieces.join("") === decode(ids) exactly, so character offsets in the decoded text map
   * to tokens. Decoding one id at a time is wrong for byte-level BPE: a character split
   * across tokens (an emoji, a rare CJK character: several UTF-8 bytes) decodes to U+FFFD
   * per fragment, and decoders that strip a leading space (Metaspace, Strip) would strip
   * it from every token. So each token's text is the growth of the decoded text of a short
   * window of tokens (the incremental detokenisation of streaming servers), less a trailing
   * incomplete character: a character belongs to the token that completes it, a token
   * holding only the first bytes of one gets "" (or the complete characters before them:
   * " " for a space + first byte). A response that ends inside a character gives its last
   * token the U+FFFD that decode(ids) shows. The window starts at the last token boundary
   * that is also a character boundary, one token back, so that a decoder's special
   * treatment of a text's first token never applies to a token being measured.
   */
  decodePieces(ids: readonly number[]): string[] {
    const pieces: string[] = new Array<string>(ids.length).fill("");
    // Window: tokens [start, t]; `shown` is the part of its text already given to tokens.
    // `clean`: the latest token index at which a character boundary falls (a window start).
    let start = 0, clean = 0, shown = "";
    for (let t = 0; t < ids.length; t++) {
      const text = this.decode(ids.slice(start, t + 1));
      const stable = t === ids.length - 1 ? text : text.replace(/\uFFFD+$/u, "");
      if (stable.length > shown.length && stable.startsWith(shown)) {
        pieces[t] = stable.slice(shown.length);
        shown = stable;
      }
      if (stable.length === text.length && shown === text) {
        // Token t ends on a character boundary and everything is given out: move the window.
        if (clean > start) {
          start = clean;
          shown = this.decode(ids.slice(start, t + 1));
        }
        clean = t + 1;
      }
    }
    const joined = pieces.join("");
    if (joined !== this.decode(ids)) {
      throw new CheckpointError(`tokenizer: its decoder is not prefix-stable (per-token text ${JSON.stringify(joined.slice(0, 80))} differs from the decoded text); segmentation needs per-token text, use a tokenizer.json whose decoder is ByteLevel, Metaspace or Fuse-based`);
    }
    return pieces;
  }

  /** The vocabulary entry of one id (as stored, not decoded). */
  piece(id: number): string {
    return this.pieces[id] ?? `<unk:${id}>`;
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }
}

/** generation_config.json's eos_token_id: an id or a list of ids, each in the vocabulary. */
function generationEosIds(g: Record<string, unknown>, vocabSize: number, where: string): number[] {
  const v = g.eos_token_id;
  if (v === undefined || v === null) return [];
  const ids = Array.isArray(v) ? v : [v];
  for (const id of ids) {
    if (!(typeof id === "number" && Number.isInteger(id) && id >= 0 && id < vocabSize)) {
      throw new CheckpointError(`${where}: eos_token_id must be a token id from 0 to ${vocabSize - 1} or a list of them, got ${JSON.stringify(v).slice(0, 80)}`);
    }
  }
  return ids as number[];
}

/** Largest token id a tokenizer.json may use (config.ts bounds vocab_size the same way). */
const MAX_TOKEN_ID = (1 << 24) - 1;

/**
 * id -> piece from the vocabulary and the added tokens. Ids are checked here because they
 * index an array: a hostile id (1e12, -1, "7") would otherwise make a huge sparse array or
 * a vocabulary size that means nothing.
 */
function tokenPieces(json: Record<string, unknown>, source: string): string[] {
  const fail = (what: string): never => {
    throw new CheckpointError(`${source}: ${what}`);
  };
  const id = (v: unknown, where: string): number =>
    typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_TOKEN_ID ? v : fail(`${where} must be a token id from 0 to ${MAX_TOKEN_ID}, got ${JSON.stringify(v)}`);
  const pieces: string[] = [];
  const vocab = (json.model as { vocab?: unknown } | undefined)?.vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [piece, score][]
    vocab.forEach((entry, i) => (pieces[i] = Array.isArray(entry) && typeof entry[0] === "string" ? entry[0] : fail(`model.vocab[${i}] must be [piece, score]`)));
  } else if (vocab !== undefined && vocab !== null) {
    if (typeof vocab !== "object") fail("model.vocab must be an object of piece -> id");
    for (const [piece, v] of Object.entries(vocab)) pieces[id(v, `model.vocab[${JSON.stringify(piece)}]`)] = piece;
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) fail("added_tokens must be an array");
  (added as unknown[]).forEach((t, i) => {
    const c = (t as { content?: unknown } | null)?.content;
    if (typeof c !== "string") fail(`added_tokens[${i}].content must be a string`);
    pieces[id((t as { id?: unknown }).id, `added_tokens[${i}].id`)] = c as string;
  });
  return pieces;
}

export const SPECIAL_TOKENS = { pad: "<pad>", bos: "<bos>", eos: "<eos>" } as const;

/**
 * tokenizer.json for the project's small models: special tokens, every printable ASCII
 * character and newline, plus whole-word tokens (transition markers, answer tags).
 * A BPE model without merges (so each character is a token) with the words as added
 * tokens, which match wherever they occur ("So" also inside "Some": harmless for a
 * character-level model, and @huggingface/tokenizers ignores `single_word`); the Fuse
 * decoder joins pieces without spaces.
 */
export function charTokenizerFiles(words: string[]): { tokenizer: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const specials: string[] = [SPECIAL_TOKENS.pad, SPECIAL_TOKENS.bos, SPECIAL_TOKENS.eos];
  const chars: string[] = ["\n"];
  for (let c = 32; c < 127; c++) chars.push(String.fromCharCode(c));
  const uniqueWords = [...new Set(words)].filter((w) => w.length > 1 && !chars.includes(w) && !specials.includes(w));
  const vocab: Record<string, number> = {};
  for (const s of [...specials, ...chars, ...uniqueWords]) vocab[s] = Object.keys(vocab).length;
  const added = [...specials.map((s) => ({ content: s, special: true })), ...uniqueWords.map((s) => ({ content: s, special: false }))].map((t) => ({
    id: vocab[t.content]!,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: t.special,
  }));
  return {
    tokenizer: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: "Fuse" },
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
    },
    tokenizerConfig: {
      tokenizer_class: "PreTrainedTokenizerFast",
      bos_token: SPECIAL_TOKENS.bos,
      eos_token: SPECIAL_TOKENS.eos,
      pad_token: SPECIAL_TOKENS.pad,
      model_max_length: 2048,
      clean_up_tokenization_spaces: false,
    },
  };
}
