// Byte-level BPE (the real Qwen3 and Llama 3 tokenizer files): exact round trips, per-token
// text whose concatenation is the decoded text (split UTF-8 characters, leading-space
// markers), and segmentation cutting where it cuts with the character-level tokenizer.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { segmentResponse, type SegmentRules } from "../../runtime/loop/rl/segment.js";
import { skipSpace, TokenText } from "../../runtime/loop/rl/segment-text.js";
import { TextTokenizer } from "../../runtime/engine/model/tokenizer.js";
import { realTokenizer } from "./tokenizer-files.js";

const MIXED = "First, 7*3=21. Then, 21+4=25 (¼ of 100).\nSo, 日本語 is fine 🙂. However the café costs 1,234€.\nThus <answer>25</answer>";

describe.each(["qwen3", "llama3"] as const)("%s tokenizer.json", (name) => {
  const tok = realTokenizer(name);

  it("decodes what it encodes, character for character (no clean-up of ' .' or ' ?')", () => {
    for (const s of [MIXED, "don't .  x ?\n", "naïve Ångström — ½ 👩‍🔬 鬱 𝔸", "\nSo, ", "  leading and trailing  "]) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
    expect(tok.decode([])).toBe("");
  });

  it("gives every token its own text; joined it is the decoded text", () => {
    const ids = tok.encode(MIXED);
    const pieces = tok.decodePieces(ids);
    expect(pieces).toHaveLength(ids.length);
    expect(pieces.join("")).toBe(MIXED);
    // Leading-space markers: the "Ġ" of " Then" is a space in the text, inside the token.
    expect(pieces).toContain(" Then");
    expect(pieces).toContain(" However");
    expect(pieces).toContain(" café");
    expect(pieces).toContain(" 🙂");
  });

  it("gives a character split across tokens to the token that completes it", () => {
    // 🫠 (4 bytes) is three tokens in both vocabularies; one at a time each decodes to U+FFFD.
    const ids = tok.encode("Wait, 🫠\nSo, ");
    expect(ids.map((id) => tok.decode([id]))).toEqual(["Wait", ",", " \uFFFD", "\uFFFD", "\uFFFD", "\n", "So", ",", " "]);
    // The space is complete in the first fragment and stays there.
    expect(tok.decodePieces(ids)).toEqual(["Wait", ",", " ", "", "🫠", "\n", "So", ",", " "]);
    const split = tok.decodePieces(tok.encode("ꙮ 𝔸"));
    expect(split.join("")).toBe("ꙮ 𝔸");
    expect(split.filter((p) => p !== "")).toEqual(["ꙮ", " ", "𝔸"]);
  });

  it("ends a response cut inside a character with the U+FFFD decode shows", () => {
    const ids = tok.encode("ok 🫠").slice(0, -1);
    const pieces = tok.decodePieces(ids);
    expect(pieces.join("")).toBe(tok.decode(ids));
    expect(pieces[pieces.length - 1]).toMatch(/\uFFFD$/u);
  });

  it("round-trips random text with its per-token pieces", () => {
    const alphabet = ["a", "Z", " ", "\n", ".", ",", "7", "é", "ß", "日", "本", "🙂", "🫠", "𝔸", "ꙮ", "€", "\u200d", "So", " Then", "<answer>", "\\frac{1}{2}"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (parts) => {
        const s = parts.join("");
        const ids = tok.encode(s);
        const pieces = tok.decodePieces(ids);
        expect(pieces.join("")).toBe(s);
        expect(pieces.some((p) => p.includes("\uFFFD"))).toBe(false);
      }),
      { numRuns: 60, seed: 14 },
    );
  });

  it("segments at the same marker positions as the character tokenizer, and finds the same answer", () => {
    const rules: SegmentRules = { kind: "entropy", candidates: { by: "top", fraction: 1 }, markers: ["Then", "So", "However", "Thus"], minGap: 1, align: "sentence" };
    // First visible character of each boundary token and the answer's tags, in characters.
    const cutsOf = (pieces: string[]) => {
      const tt = new TokenText(pieces);
      const seg = segmentResponse(pieces, new Float32Array(pieces.length).fill(1), rules);
      const at = (t: number) => skipSpace(tt.text, tt.starts[t]!);
      const a = seg.answer!;
      return { cuts: seg.boundaries.map(at), answer: [at(a.start), tt.starts[a.contentStart], tt.starts[a.contentEnd], tt.starts[a.end]] };
    };
    const chars = cutsOf([...MIXED]);
    const bpe = cutsOf(tok.decodePieces(tok.encode(MIXED)));
    const off = (s: string) => MIXED.indexOf(s);
    expect(chars.cuts).toEqual([0, off("Then"), off("So,"), off("However"), off("Thus"), off("<answer>"), MIXED.length]);
    expect(bpe).toEqual(chars);
    expect(bpe.answer).toEqual([off("<answer>"), off("25</"), off("</answer>"), MIXED.length]);
  });
});

describe("per-token text with a Metaspace (SentencePiece-style) decoder", () => {
  // Metaspace drops the "▁" of a text's first token: one id at a time, every token's space
  // would be lost.
  const vocab: Record<string, number> = { "<unk>": 0, "▁So": 1, ",": 2, "▁then": 3, "▁x": 4, "▁": 5, "é": 6 };
  const tok = new TextTokenizer(
    {
      version: "1.0", added_tokens: [], normalizer: null, post_processor: null,
      pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
      decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
      model: { type: "BPE", unk_token: "<unk>", fuse_unk: false, byte_fallback: false, vocab, merges: [] },
    },
    { clean_up_tokenization_spaces: false },
  );

  it("keeps each token's leading space except the text's first", () => {
    const ids = [1, 2, 3, 4, 5, 6];
    expect(ids.map((id) => tok.decode([id]))).toEqual(["So", ",", "then", "x", "", "é"]);
    expect(tok.decode(ids)).toBe("So, then x é");
    expect(tok.decodePieces(ids)).toEqual(["So", ",", " then", " x", " ", "é"]);
  });
});
