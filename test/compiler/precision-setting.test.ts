// `model "DIR" { precision f16 }`: how the policy's linear weights are stored on the GPU.
// Checked, printed back, absent from the resolved pipeline when not written (so plans of other
// pipelines stay as they were), refused with a position when misspelt or without a folder.
import { describe, expect, it } from "vitest";
import { formatAll, loadPipeline, pipelineJson, printPipeline } from "../../compiler/index.js";
import { blockName } from "../../compiler/lsp/settings-table.js";
import { at, check, withBody } from "./helpers.js";

const withModel = (model: string): string => withBody("").replace('  model "m"', `  ${model}`);

describe("model precision", () => {
  it("reads f16, prints it back and keeps it through plan.json", () => {
    const r = check(withModel('model "m" { precision f16 }'));
    expect(formatAll(r)).toBe("");
    expect(r.pipeline!.model).toEqual({ path: expect.stringMatching(/\/m$/), precision: "f16" });
    const printed = printPipeline(r.pipeline!);
    expect(printed).toContain(`model "${r.pipeline!.model.path}" { precision f16 }`);
    expect(loadPipeline(r.pipeline!.file, { text: printed }).pipeline!.model.precision).toBe("f16");
    expect(pipelineJson(r.pipeline!).model).toEqual(r.pipeline!.model);
  });

  it("leaves the precision out when not written, and keeps an explicit f32", () => {
    expect(check(withModel('model "m"')).pipeline!.model).toEqual({ path: expect.stringMatching(/\/m$/) });
    const r = check(withModel('model "m" { precision f32 }'));
    expect(r.pipeline!.model.precision).toBe("f32");
    expect(printPipeline(r.pipeline!)).toContain("{ precision f32 }");
  });

  it.each([
    ['model "m" { precision f8 }', "f8", "E0402", "`f8` is not a valid `precision`"],
    ['model "m" { precison f16 }', "precison", "E0203", "unknown setting `precison` in `model`"],
    ["model { precision f16 }", "model", "E0402", "`model` takes a folder in double quotes"],
  ])("%s is refused at its position", (model, needle, code, message) => {
    const text = withModel(model);
    const r = check(text);
    expect(r.pipeline).toBeUndefined();
    expect(r.diagnostics[0]).toMatchObject({ code, message, span: at(text, needle) });
  });

  it("completion knows the model block after its folder", () => {
    expect(blockName("model", '"m"')).toBe("model");
  });
});
