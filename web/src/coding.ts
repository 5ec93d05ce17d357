/**
 * The Blind coding section: draw a random sample of the project's documents (with a size
 * suggested from the precision wanted and the variable's categories), then code it document by
 * document without seeing the model's values. The codes, saved under the coder's name, become a
 * reference for the Agreement section; a coder who comes back finds their codes filled in.
 */
import { VariableType, type CodingSample, type Project, type Variable } from "@coderai/sdk";

import { element, onSubmit, showError } from "./dom.js";
import { api } from "./session.js";
import { documentText, typedValue, valueText, type Value } from "./values.js";

const NOT_STATED = "(not stated)";

const ui = {
  section: element("coding", HTMLElement),
  sampleForm: element("sample-form", HTMLFormElement),
  variable: element("sample-variable", HTMLSelectElement),
  suggest: element("suggest-size", HTMLButtonElement),
  suggestion: element("size-suggestion", HTMLOutputElement),
  name: element("sample-name", HTMLInputElement),
  size: element("coding-sample-size", HTMLInputElement),
  sample: element("coding-sample", HTMLSelectElement),
  coder: element("coder", HTMLInputElement),
  start: element("start-coding", HTMLButtonElement),
  status: element("coding-status", HTMLParagraphElement),
  error: element("coding-error", HTMLParagraphElement),
  codeForm: element("code-form", HTMLFormElement),
  codeTitle: element("code-title", HTMLParagraphElement),
  fields: element("code-fields", HTMLDivElement),
  text: element("coding-text", HTMLDivElement),
};

let project: Project | undefined;
let variables: Variable[] = [];
let samples: CodingSample[] = [];
/** The coding under way: the sample, the coder, the document shown, the codes given before. */
let session:
  | { sample: CodingSample; coder: string; index: number; given: Map<string, [Value | undefined, string]> }
  | undefined;

export async function showCoding(chosen: Project | undefined): Promise<void> {
  project = chosen;
  ui.section.hidden = chosen === undefined;
  stopCoding();
  if (chosen === undefined) {
    return;
  }
  variables = (await api.schema.listVariables({ projectId: chosen.id })).variables;
  ui.variable.replaceChildren(...variables.map((v) => new Option(v.displayName || v.name, v.id)));
  await loadSamples();
}

async function loadSamples(choose?: string): Promise<void> {
  if (project === undefined) return;
  samples = (await api.quality.listCodingSamples({ projectId: project.id })).samples;
  ui.sample.replaceChildren(
    ...samples.map(
      (sample) => new Option(`${sample.name} (${sample.documentIds.length} documents)`, sample.id),
    ),
  );
  if (choose) ui.sample.value = choose;
}

function stopCoding(): void {
  session = undefined;
  ui.codeForm.hidden = true;
  ui.text.hidden = true;
}

ui.suggest.addEventListener("click", () => {
  showError(ui.error, undefined);
  api.quality
    .suggestSampleSize({ variableId: ui.variable.value })
    .then((size) => {
      ui.suggestion.textContent = `Suggested: ${size.suggestedSize} documents. ${size.explanation}`;
      ui.size.value = String(size.suggestedSize);
    })
    .catch((error: unknown) => showError(ui.error, error));
});

onSubmit(ui.sampleForm, ui.error, async () => {
  if (project === undefined) return;
  const { sample } = await api.quality.createCodingSample({
    projectId: project.id,
    name: ui.name.value,
    size: Number(ui.size.value),
  });
  if (sample === undefined) throw new Error("CreateCodingSample came back empty");
  await loadSamples(sample.id);
  ui.status.textContent =
    `Drew ${sample.documentIds.length} documents at random from ${sample.population} ` +
    `READY documents (seed ${sample.seed}).`;
});

ui.start.addEventListener("click", () => {
  startCoding().catch((error: unknown) => showError(ui.error, error));
});

async function startCoding(): Promise<void> {
  showError(ui.error, undefined);
  const sample = samples.find((candidate) => candidate.id === ui.sample.value);
  const coder = ui.coder.value.trim();
  if (project === undefined || sample === undefined) {
    throw new Error("Draw a sample first.");
  }
  if (!coder) {
    ui.coder.focus();
    throw new Error("Give the coder's name: the codes are saved under it.");
  }
  const earlier = await api.quality.listCodes({ projectId: project.id, coder, sampleId: sample.id });
  const given = new Map<string, [Value | undefined, string]>(
    earlier.codes.map((code) => [`${code.documentId}/${code.variableId}`, [code.value, code.note]]),
  );
  // Back where the coder stopped: the first document with a variable left to code.
  const done = (documentId: string) => variables.every((v) => given.has(`${documentId}/${v.id}`));
  const index = sample.documentIds.findIndex((documentId) => !done(documentId));
  session = { sample, coder, index: index === -1 ? 0 : index, given };
  await showCodedDocument();
}

async function showCodedDocument(): Promise<void> {
  if (session === undefined) return;
  const { sample, index } = session;
  const documentId = sample.documentIds[index];
  if (documentId === undefined) return;
  const [{ document }, text] = await Promise.all([
    api.documents.getDocument({ documentId }),
    documentText(documentId),
  ]);
  ui.codeTitle.textContent = `Document ${index + 1} of ${sample.documentIds.length}: ${document?.filename ?? documentId}`;
  ui.text.textContent = text;
  ui.fields.replaceChildren(...variables.flatMap((variable) => codeField(variable, documentId)));
  ui.codeForm.hidden = false;
  ui.text.hidden = false;
  ui.status.textContent = `Coding as ${session.coder}: the model's values are not shown.`;
  ui.codeTitle.focus();
}

/** A variable's label, its input (a choice for categories and yes/no, text otherwise) and a
 * note, filled with the coder's earlier code. */
function codeField(variable: Variable, documentId: string): HTMLElement[] {
  const key = `${documentId}/${variable.id}`;
  const coded = session?.given.has(key) ?? false;
  const [earlier, note] = session?.given.get(key) ?? [undefined, ""];
  const id = `code-${variable.id}`;
  const label = Object.assign(document.createElement("label"), {
    htmlFor: id,
    textContent: variable.displayName || variable.name,
  });
  const choices =
    variable.type === VariableType.CATEGORY
      ? (variable.classificationRules?.categories ?? []).map((category) => category.label)
      : variable.type === VariableType.BOOLEAN
        ? ["true", "false"]
        : undefined;
  let input: HTMLInputElement | HTMLSelectElement;
  if (choices) {
    input = document.createElement("select");
    input.required = true;
    input.append(new Option("Choose…", ""), ...[...choices, NOT_STATED].map((c) => new Option(c)));
    // A code given before without a value said "not stated".
    input.value = earlier !== undefined ? valueText(earlier) : coded ? NOT_STATED : "";
  } else {
    input = document.createElement("input");
    input.placeholder = "empty: not stated";
    input.value = valueText(earlier);
  }
  input.id = id;
  input.dataset.variableId = variable.id;
  input.title = variable.instructions;
  const noteInput = Object.assign(document.createElement("input"), {
    value: note,
    placeholder: "note (optional)",
  });
  noteInput.dataset.noteFor = variable.id;
  noteInput.setAttribute("aria-label", `Note on ${variable.displayName || variable.name}`);
  const box = document.createElement("div");
  box.className = "buttons";
  box.append(input, noteInput);
  return [label, box];
}

onSubmit(ui.codeForm, ui.error, async () => {
  if (session === undefined || project === undefined) return;
  const { sample, coder, index } = session;
  const documentId = sample.documentIds[index] ?? "";
  const codes = variables.map((variable) => {
    const input = ui.fields.querySelector<HTMLInputElement | HTMLSelectElement>(
      `[data-variable-id="${variable.id}"]`,
    );
    const note = ui.fields.querySelector<HTMLInputElement>(`[data-note-for="${variable.id}"]`);
    const typed = input?.value === NOT_STATED ? "" : (input?.value ?? "");
    return {
      variableId: variable.id,
      documentId,
      value: typedValue(typed, variable.type),
      note: note?.value ?? "",
    };
  });
  await api.quality.submitCodes({ projectId: project.id, coder, sampleId: sample.id, codes });
  for (const code of codes) {
    session.given.set(`${documentId}/${code.variableId}`, [code.value, code.note]);
  }
  if (index + 1 < sample.documentIds.length) {
    session.index += 1;
    await showCodedDocument();
    return;
  }
  stopCoding();
  ui.status.textContent = `All ${sample.documentIds.length} documents of ${sample.name} coded by ${coder}.`;
});
