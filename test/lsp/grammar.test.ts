// The TextMate grammar and the VS Code extension folder: valid JSON, patterns that compile,
// and word lists that cover the lexer's reserved words and the built-in table, so that the
// highlighting cannot drift from the language.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FUNCTIONS, QUANTITIES } from "../../compiler/builtins.js";
import { KEYWORD_WORDS } from "../../compiler/lexer.js";

const EXT = fileURLToPath(new URL("../../editors/vscode/", import.meta.url));

interface Rule {
  name?: string;
  match?: string;
  begin?: string;
  end?: string;
  include?: string;
  patterns?: Rule[];
  captures?: Record<string, { name: string }>;
}

function readJson<T>(rel: string): T {
  return JSON.parse(readFileSync(EXT + rel, "utf8")) as T;
}

const grammar = readJson<{ scopeName: string; patterns: Rule[]; repository: Record<string, Rule> }>("syntaxes/acpo.tmLanguage.json");

/** Every rule of the grammar with a `match`, flattened, with the scope it gives a whole match. */
function matchRules(): { scope: string; re: RegExp }[] {
  const out: { scope: string; re: RegExp }[] = [];
  const visit = (r: Rule) => {
    if (r.match) out.push({ scope: r.name ?? "", re: new RegExp(r.match) });
    r.patterns?.forEach(visit);
  };
  Object.values(grammar.repository).forEach(visit);
  return out;
}

/** The scope the grammar gives `word` when the whole of `text` is matched by one rule. */
function scopesOf(text: string, word: string): string[] {
  return matchRules()
    .filter(({ re }) => {
      const m = new RegExp(re.source, "g").exec(text);
      return m !== null && m[0] === word && m.index === text.indexOf(word);
    })
    .map((r) => r.scope);
}

describe("TextMate grammar", () => {
  it("is JSON whose patterns all compile and whose includes all exist", () => {
    expect(grammar.scopeName).toBe("source.acpo");
    const rules = matchRules();
    expect(rules.length).toBeGreaterThanOrEqual(12);
    for (const p of grammar.patterns) expect(grammar.repository[p.include!.slice(1)], p.include).toBeDefined();
  });

  it("highlights every reserved word of the lexer as a keyword or a language constant", () => {
    expect(KEYWORD_WORDS.size).toBeGreaterThanOrEqual(18);
    for (const word of KEYWORD_WORDS) {
      const scopes = scopesOf(word, word);
      expect(scopes.some((s) => s.startsWith("keyword.") || s.startsWith("constant.language.")), `${word}: ${scopes.join(", ")}`).toBe(true);
    }
  });

  it("highlights no name as a keyword that the lexer does not reserve", () => {
    const rules = matchRules().filter((r) => (r.scope.startsWith("keyword.") || r.scope.startsWith("constant.language.")) && /^\\b\(\?:/.test(r.re.source));
    const listed = rules.flatMap((r) => r.re.source.replace(/^\\b\(\?:/, "").replace(/\)\\b$/, "").split("|"));
    expect(listed.sort()).toEqual([...KEYWORD_WORDS].sort());
    // Word boundaries: a longer name that starts with a keyword stays a name.
    expect(scopesOf("pipelines", "pipeline")).toEqual([]);
    expect(scopesOf("ifx", "if")).toEqual([]);
  });

  it("highlights every built-in quantity, and every built-in function before its parenthesis", () => {
    for (const q of Object.keys(QUANTITIES)) expect(scopesOf(q, q), q).toContain("support.variable.builtin.acpo");
    for (const f of Object.keys(FUNCTIONS)) {
      expect(scopesOf(`${f}(x)`, f), f).toContain("support.function.builtin.acpo");
      expect(scopesOf(`${f}`, f), `${f} without (`).not.toContain("support.function.builtin.acpo");
    }
    expect(scopesOf("Hx", "H")).toEqual([]);
  });

  it("scopes numbers, metrics, comments and strings", () => {
    expect(scopesOf("1e-6", "1e-6")).toContain("constant.numeric.acpo");
    expect(scopesOf("acc@8", "acc@8")).toContain("constant.other.metric.acpo");
    expect(scopesOf("# note", "# note")).toContain("comment.line.number-sign.acpo");
    expect(grammar.repository.string!.begin).toBe('"');
  });
});

describe("VS Code extension folder", () => {
  it("declares the language, its configuration and the grammar, with files that exist", () => {
    const pkg = readJson<{ main: string; activationEvents: string[]; contributes: { languages: { id: string; extensions: string[]; configuration: string }[]; grammars: { language: string; scopeName: string; path: string }[] } }>("package.json");
    const [lang] = pkg.contributes.languages;
    expect(lang).toMatchObject({ id: "acpo", extensions: [".acpo"] });
    expect(pkg.contributes.grammars).toEqual([{ language: "acpo", scopeName: grammar.scopeName, path: "./syntaxes/acpo.tmLanguage.json" }]);
    expect(pkg.activationEvents).toEqual(["onLanguage:acpo"]);
    for (const f of [pkg.main, lang!.configuration]) expect(existsSync(EXT + f), f).toBe(true);
    const conf = readJson<{ comments: { lineComment: string } }>("language-configuration.json");
    expect(conf.comments.lineComment).toBe("#");
  });

  it("starts the server with `acpo lsp` by default", () => {
    const pkg = readJson<{ contributes: { configuration: { properties: Record<string, { default: unknown }> } } }>("package.json");
    expect(pkg.contributes.configuration.properties["acpo.server.args"]!.default).toEqual(["--no", "acpo", "lsp"]);
    expect(readFileSync(EXT + "extension.js", "utf8")).toContain('config.get("server.args", ["--no", "acpo", "lsp"])');
  });
});
