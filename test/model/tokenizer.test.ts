import { describe, expect, it } from "vitest";
import { TextTokenizer, charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";

describe("tokenizer.json through @huggingface/tokenizers", () => {
  const files = charTokenizerFiles(["First", "Then", "So", "<answer>", "</answer>"]);
  const tok = new TextTokenizer(files.tokenizer, files.tokenizerConfig);

  it("round-trips text and keeps whole words as one token", () => {
    const text = "First, 3+4 = 7.\nSo <answer>7</answer>";
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    const pieces = ids.map((i) => tok.piece(i));
    expect(pieces).toContain("First");
    expect(pieces).toContain("<answer>");
    expect(pieces.filter((p) => p === "7")).toHaveLength(2);
  });

  it("knows its special tokens and skips them when asked", () => {
    expect(tok.bosId).toBe(1);
    expect(tok.eosIds).toEqual([2]);
    expect(tok.padId).toBe(0);
    const ids = [...tok.encode("12"), 2];
    expect(tok.decode(ids)).toBe("12<eos>");
    expect(tok.decode(ids, true)).toBe("12");
    expect(tok.vocabSize).toBe(3 + 96 + 5);
  });

  it("rejects a malformed tokenizer.json with the file's name", () => {
    expect(() => new TextTokenizer({ model: { type: "NoSuchModel" } }, {}, "models/x/tokenizer.json")).toThrow(/models\/x\/tokenizer\.json: cannot build a tokenizer/);
  });
});
