// Tokenizers come from Hugging Face tokenizer.json files, run by @huggingface/tokenizers
// (a maintained implementation of the same format), so every model — a downloaded Qwen2
// or the project's own tiny models — goes through one path.
import { Tokenizer } from "@huggingface/tokenizers";
import { CheckpointError } from "./safetensors.js";

export class TextTokenizer {
  private readonly tok: Tokenizer;
  /** id -> token string, for rendering trajectories token by token. */
  private readonly pieces: string[];
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosIds: number[];
  readonly padId: number | null;

  constructor(
    readonly json: Record<string, unknown>,
    readonly config: Record<string, unknown> = {},
    source = "tokenizer.json",
  ) {
    // Our own checks first, so that the common malformations get a message that says which field.
    this.pieces = tokenPieces(json, source);
    try {
      this.tok = new Tokenizer(json as never, config as never);
    } catch (e) {
      throw new CheckpointError(`${source}: cannot build a tokenizer (${(e as Error).message})`);
    }
    this.vocabSize = this.pieces.length;
    const idOf = (key: string): number | null => {
      const v = config[key];
      const s = typeof v === "string" ? v : (v as { content?: string } | undefined)?.content;
      return s === undefined ? null : (this.tokenToId(s) ?? null);
    };
    this.bosId = idOf("bos_token");
    const eos = idOf("eos_token");
    this.eosIds = eos === null ? [] : [eos];
    this.padId = idOf("pad_token");
  }

  /** Token ids of `text` (no special tokens added). */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: ArrayLike<number>, skipSpecialTokens = false): string {
    return this.tok.decode(Array.from(ids), { skip_special_tokens: skipSpecialTokens });
  }

  /** The vocabulary entry of one id (as stored, not decoded). */
  piece(id: number): string {
    return this.pieces[id] ?? `<unk:${id}>`;
  }

  tokenToId(token: string): number | undefined {
    const i = this.pieces.indexOf(token);
    return i >= 0 ? i : undefined;
  }
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
