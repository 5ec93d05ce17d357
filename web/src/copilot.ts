/**
 * The co-pilot, where variables are defined: variables suggested from a sample of the project's
 * documents and the research question, or one variable defined from a rough description. Each
 * suggestion shows its definition, why it helps, a passage that states it (flagged when the
 * passage is not in the document) and what was repaired; it is added as it is (CreateVariable,
 * the same validation as any variable) or put in the form to edit first. Nothing is stored
 * before that.
 */
import {
  dollars,
  VariableType,
  type CopilotUsage,
  type DroppedSuggestion,
  type Project,
  type VariableSuggestion,
} from "@coderai/sdk";

import { button, element, onSubmit } from "./dom.js";
import { api } from "./session.js";
import { editNew, variablesChanged } from "./variables.js";

const ui = {
  suggestForm: element("suggest-form", HTMLFormElement),
  question: element("research-question", HTMLInputElement),
  defineForm: element("define-form", HTMLFormElement),
  description: element("rough-description", HTMLInputElement),
  status: element("copilot-status", HTMLParagraphElement),
  error: element("copilot-error", HTMLParagraphElement),
  suggestions: element("suggestions", HTMLOListElement),
  dropped: element("dropped-suggestions", HTMLUListElement),
};

let project: Project | undefined;

export function showCopilot(chosen: Project | undefined): void {
  if (chosen?.id !== project?.id) {
    ui.suggestions.replaceChildren();
    ui.dropped.replaceChildren();
    ui.status.textContent = "";
  }
  project = chosen;
}

function usageText(usage: CopilotUsage | undefined): string {
  if (usage === undefined) return "";
  const read = `Read ${usage.documentsRead} documents (${usage.excerptCharacters.toLocaleString()} characters of excerpts)`;
  return usage.baseline
    ? `${read}; the offline baseline answered from the text's structure, not a language model.`
    : `${read}; ${usage.llmModel} used ${usage.inputTokens + usage.outputTokens} tokens ($${(dollars(usage.cost) ?? 0).toFixed(4)}).`;
}

function show(suggestions: VariableSuggestion[], dropped: DroppedSuggestion[], usage?: CopilotUsage): void {
  ui.suggestions.replaceChildren(...suggestions.map(card));
  ui.dropped.replaceChildren(
    ...dropped.map((item) =>
      Object.assign(document.createElement("li"), {
        textContent: `Left out ${item.name ? `“${item.name}”` : "a suggestion"}: ${item.reason}.`,
      }),
    ),
  );
  const count = `${suggestions.length} ${suggestions.length === 1 ? "suggestion" : "suggestions"}`;
  ui.status.textContent = `${count}. ${usageText(usage)}`;
}

function card(suggestion: VariableSuggestion): HTMLLIElement {
  const variable = suggestion.variable;
  const item = document.createElement("li");
  item.dataset.testid = "suggestion";
  if (variable === undefined) return item;
  item.dataset.name = variable.name;
  const title = document.createElement("strong");
  title.textContent = `${variable.name} (${VariableType[variable.type].toLowerCase()})`;
  const lines = [variable.instructions, suggestion.rationale];
  const categories = variable.classificationRules?.categories ?? [];
  if (categories.length) {
    lines.push(`Categories: ${categories.map((c) => `${c.label} (${c.definition})`).join("; ")}`);
  }
  if (suggestion.exampleQuote) {
    const where = suggestion.quoteFound ? "" : " (not found in the document: check it)";
    lines.push(`Example: “${suggestion.exampleQuote}”${where}`);
  }
  if (suggestion.repairs.length) {
    lines.push(`Repaired: ${suggestion.repairs.join("; ")}`);
  }
  const text = document.createElement("p");
  text.textContent = lines.filter(Boolean).join("\n");
  text.style.whiteSpace = "pre-line";
  const add = button("Add", ui.error, async () => {
    await api.schema.createVariable({ variable });
    item.remove();
    ui.status.textContent = `Added ${variable.name}, with its prompt.`;
    await variablesChanged();
  });
  add.setAttribute("aria-label", `Add ${variable.name}`);
  const edit = button("Edit first", ui.error, async () => editNew(variable));
  edit.setAttribute("aria-label", `Edit ${variable.name} first`);
  const actions = document.createElement("span");
  actions.className = "actions";
  actions.append(add, edit);
  item.append(title, text, actions);
  return item;
}

onSubmit(ui.suggestForm, ui.error, async () => {
  if (project === undefined) return;
  ui.status.textContent = "Reading a sample of the documents…";
  const found = await api.schema.suggestVariables({
    projectId: project.id,
    researchQuestion: ui.question.value,
  });
  show(found.suggestions, found.dropped, found.usage);
});

onSubmit(ui.defineForm, ui.error, async () => {
  if (project === undefined) return;
  const found = await api.schema.suggestVariableDefinition({
    projectId: project.id,
    description: ui.description.value,
  });
  show(found.suggestion ? [found.suggestion] : [], found.dropped, found.usage);
});
