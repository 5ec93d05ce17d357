/**
 * The Variables section: the chosen project's schema. A table of its variables (edit, delete,
 * show the generated prompt) and one form that creates or edits a variable of any type with
 * its categories, rules for uncertain and multiple values, and validation; the server's
 * complaints appear at the fields they concern.
 */
import {
  IfMultipleValues,
  IfUncertain,
  VariableType,
  type Project,
  type Variable,
} from "@coderai/sdk";

import { button, element, onSubmit, required, row } from "./dom.js";
import { api } from "./session.js";

const ui = {
  section: element("variables", HTMLElement),
  table: element("variables-body", HTMLTableSectionElement),
  count: element("variables-status", HTMLParagraphElement),
  form: element("variable-form", HTMLFormElement),
  legend: element("variable-form-legend", HTMLElement),
  name: element("variable-name", HTMLInputElement),
  displayName: element("variable-display-name", HTMLInputElement),
  type: element("variable-type", HTMLSelectElement),
  instructions: element("variable-instructions", HTMLTextAreaElement),
  categoriesBox: element("variable-categories", HTMLFieldSetElement),
  categories: element("categories-list", HTMLOListElement),
  addCategory: element("add-category", HTMLButtonElement),
  selectionLogic: element("variable-selection-logic", HTMLInputElement),
  threshold: element("variable-threshold", HTMLInputElement),
  ifUncertain: element("variable-if-uncertain", HTMLSelectElement),
  ifMultiple: element("variable-if-multiple", HTMLSelectElement),
  maxValues: element("variable-max-values", HTMLInputElement),
  save: element("save-variable", HTMLButtonElement),
  newVariable: element("new-variable", HTMLButtonElement),
  error: element("variable-error", HTMLParagraphElement),
  prompt: element("prompt", HTMLElement),
  promptTitle: element("prompt-title", HTMLElement),
  promptText: element("prompt-text", HTMLPreElement),
};

let project: Project | undefined;
let variables: Variable[] = [];

function options(select: HTMLSelectElement, values: Record<string, number | string>): void {
  const names = Object.entries(values).filter(
    ([name, value]) => typeof value === "number" && name !== "UNSPECIFIED",
  );
  select.replaceChildren(
    ...names.map(([name, value]) => new Option(name.toLowerCase().replaceAll("_", " "), String(value))),
  );
}
options(ui.type, VariableType);
options(ui.ifUncertain, IfUncertain);
options(ui.ifMultiple, IfMultipleValues);

export async function showVariables(chosen: Project | undefined): Promise<void> {
  // Another project: a fresh form. The same one (saved, say): what is being typed stays.
  const another = chosen?.id !== project?.id;
  project = chosen;
  ui.section.hidden = chosen === undefined;
  if (another) {
    ui.prompt.hidden = true;
    fill(undefined);
  }
  if (!chosen) return;
  await refreshVariables(chosen);
}

/** The form filled with a variable to add (a co-pilot suggestion), for the researcher to edit
 * and save. */
export function editNew(variable: Variable): void {
  fill(variable);
  ui.form.dataset.editing = "";
  ui.legend.textContent = `New variable: ${variable.name} (suggested)`;
  ui.save.textContent = "Add variable";
  ui.name.focus();
}

/** The table again, after a variable was added elsewhere (a co-pilot suggestion). */
export async function variablesChanged(): Promise<void> {
  if (project) await refreshVariables(project);
}

async function refreshVariables(chosen: Project): Promise<void> {
  variables = (await api.schema.listVariables({ projectId: chosen.id })).variables;
  ui.count.textContent = variables.length
    ? `${variables.length} variable${variables.length === 1 ? "" : "s"}`
    : "No variables yet: define the first below.";
  ui.table.replaceChildren(
    ...variables.map((variable) =>
      row(
        variable.name,
        VariableType[variable.type].toLowerCase(),
        variable.instructions,
        actions(variable),
      ),
    ),
  );
}

function actions(variable: Variable): HTMLElement {
  const box = document.createElement("span");
  box.className = "actions";
  const edit = button("Edit", ui.error, async () => {
    fill(variable);
    ui.name.focus();
  });
  edit.setAttribute("aria-label", `Edit ${variable.name}`);
  const prompt = button("Prompt", ui.error, () => showPrompt(variable));
  prompt.setAttribute("aria-label", `Prompt of ${variable.name}`);
  const remove = button("Delete", ui.error, async () => {
    if (!window.confirm(`Delete the variable ${variable.name}?`)) return;
    await api.schema.deleteVariable({ variableId: variable.id });
    if (project) await refreshVariables(project);
  });
  remove.setAttribute("aria-label", `Delete ${variable.name}`);
  box.append(edit, prompt, remove);
  return box;
}

async function showPrompt(variable: Variable): Promise<void> {
  const { version } = await api.schema.getPromptVersion({ variableId: variable.id, version: 0 });
  const shown = required(version, "GetPromptVersion");
  ui.promptTitle.textContent = `Prompt of ${variable.name}, version ${shown.version} (${shown.provider}/${shown.model})`;
  ui.promptText.textContent = `${shown.systemPrompt}\n\n--- user message ---\n${shown.userPromptTemplate}`;
  ui.prompt.hidden = false;
  ui.promptTitle.focus();
}

function categoryRow(label = "", definition = ""): HTMLLIElement {
  const item = document.createElement("li");
  const index = ui.categories.children.length;
  const labelInput = Object.assign(document.createElement("input"), { value: label });
  labelInput.setAttribute("aria-label", `Category ${index + 1} label`);
  labelInput.dataset.field = `classification_rules.categories[${index}].label`;
  const definitionInput = Object.assign(document.createElement("input"), { value: definition });
  definitionInput.setAttribute("aria-label", `Category ${index + 1} definition`);
  definitionInput.dataset.field = `classification_rules.categories[${index}].definition`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove category ${index + 1}`);
  remove.addEventListener("click", () => item.remove());
  item.append(labelInput, definitionInput, remove);
  return item;
}

function showCategories(): void {
  ui.categoriesBox.hidden = Number(ui.type.value) !== VariableType.CATEGORY;
}

function fill(variable: Variable | undefined): void {
  ui.form.dataset.editing = variable?.id ?? "";
  ui.legend.textContent = variable ? `Edit ${variable.name}` : "New variable";
  ui.save.textContent = variable ? "Save variable" : "Add variable";
  ui.name.value = variable?.name ?? "";
  ui.displayName.value = variable?.displayName ?? "";
  ui.type.value = String(variable?.type ?? VariableType.TEXT);
  ui.instructions.value = variable?.instructions ?? "";
  const categories = variable?.classificationRules?.categories ?? [];
  ui.categories.replaceChildren(...categories.map((c) => categoryRow(c.label, c.definition)));
  ui.selectionLogic.value = variable?.classificationRules?.selectionLogic ?? "";
  ui.threshold.value = variable?.confidenceThreshold?.toString() ?? "";
  ui.ifUncertain.value = String(variable?.ifUncertain || IfUncertain.FLAG_FOR_REVIEW);
  ui.ifMultiple.value = String(variable?.ifMultipleValues || IfMultipleValues.FIRST);
  ui.maxValues.value = String(variable?.maxValues || 1);
  showCategories();
}

async function save(): Promise<void> {
  if (!project) return;
  const type = Number(ui.type.value) as VariableType;
  const categories = [...ui.categories.querySelectorAll("li")].map((item) => {
    const [label, definition] = item.querySelectorAll("input");
    return { label: label.value, definition: definition.value };
  });
  const variable = {
    id: ui.form.dataset.editing ?? "",
    projectId: project.id,
    name: ui.name.value,
    displayName: ui.displayName.value,
    type,
    instructions: ui.instructions.value,
    classificationRules:
      type === VariableType.CATEGORY
        ? { categories, selectionLogic: ui.selectionLogic.value }
        : undefined,
    confidenceThreshold: ui.threshold.value === "" ? undefined : Number(ui.threshold.value),
    ifUncertain: Number(ui.ifUncertain.value) as IfUncertain,
    ifMultipleValues: Number(ui.ifMultiple.value) as IfMultipleValues,
    maxValues: Number(ui.maxValues.value) || 1,
  };
  if (variable.id) {
    await api.schema.updateVariable({ variable });
  } else {
    await api.schema.createVariable({ variable });
  }
  await refreshVariables(project);
  fill(undefined);
  ui.count.textContent += ` · saved ${variable.name}`;
}

ui.type.addEventListener("change", showCategories);
ui.addCategory.addEventListener("click", () => {
  const added = categoryRow();
  ui.categories.append(added);
  added.querySelector("input")?.focus();
});
ui.newVariable.addEventListener("click", () => {
  fill(undefined);
  ui.name.focus();
});
onSubmit(ui.form, ui.error, save, "variable.");
