/**
 * The Projects section: the researcher's projects in the "Project" chooser, and one form that
 * creates a project or edits the chosen one (UpdateProject with the changed fields' mask),
 * its unit of observation and its extraction mode (one request per variable, or all in one).
 * Choosing a project tells the other sections (onChosen).
 */
import { ExtractionMode, UnitOfObservation, type Project } from "@coderai/sdk";

import { element, onSubmit, required } from "./dom.js";
import { api } from "./session.js";

const ui = {
  section: element("projects", HTMLElement),
  chooser: element("project", HTMLSelectElement),
  newProject: element("new-project", HTMLButtonElement),
  form: element("project-form", HTMLFormElement),
  legend: element("project-form-legend", HTMLElement),
  name: element("project-name", HTMLInputElement),
  domain: element("project-domain", HTMLInputElement),
  language: element("project-language", HTMLInputElement),
  unit: element("project-unit", HTMLSelectElement),
  pattern: element("project-entity-pattern", HTMLInputElement),
  extractionMode: element("project-extraction-mode", HTMLSelectElement),
  description: element("project-description", HTMLTextAreaElement),
  save: element("save-project", HTMLButtonElement),
  error: element("project-error", HTMLParagraphElement),
};

/** How a project's (or a job's) variables are asked for, in the researcher's words. */
export function extractionModeWords(mode: ExtractionMode): string {
  return effectiveExtractionMode(mode) === ExtractionMode.GROUPED
    ? "all variables in one request"
    : "one request per variable";
}

/** The mode a project or job extracts in: UNSPECIFIED (or none) is PER_VARIABLE. */
export function effectiveExtractionMode(mode?: ExtractionMode): ExtractionMode {
  return mode || ExtractionMode.PER_VARIABLE;
}

const projects = new Map<string, Project>();
let listeners: ((project: Project | undefined) => void)[] = [];

/** Called with the chosen project (undefined when there is none) whenever it changes. */
export function onChosen(listener: (project: Project | undefined) => void): void {
  listeners.push(listener);
}

export function chosenProject(): Project | undefined {
  return projects.get(ui.chooser.value);
}

/** Shows the section with the researcher's projects, choosing `choose` (else the first). */
export async function showProjects(choose?: string): Promise<void> {
  const found: Project[] = [];
  let pageToken = "";
  do {
    const page = await api.projects.listProjects({ pageSize: 200, pageToken });
    found.push(...page.projects);
    pageToken = page.nextPageToken;
  } while (pageToken);
  projects.clear();
  found.forEach((project) => projects.set(project.id, project));
  const options = found.map((project) => new Option(project.name, project.id));
  ui.chooser.replaceChildren(...(options.length ? options : [new Option("No projects yet", "")]));
  if (choose && projects.has(choose)) {
    ui.chooser.value = choose;
  }
  ui.section.hidden = false;
  chosen();
}

export function hideProjects(): void {
  ui.section.hidden = true;
  projects.clear();
  ui.chooser.replaceChildren();
  chosen();
}

function chosen(): void {
  const project = chosenProject();
  fill(project);
  listeners.forEach((listener) => listener(project));
}

/** The form edits the chosen project, or creates one when there is none. */
function fill(project: Project | undefined): void {
  ui.form.dataset.editing = project?.id ?? "";
  ui.legend.textContent = project ? `Edit ${project.name}` : "New project";
  ui.save.textContent = project ? "Save project" : "Create project";
  ui.name.value = project?.name ?? "";
  ui.domain.value = project?.domain ?? "";
  ui.language.value = project?.language || "en";
  ui.unit.value = String(project?.unitOfObservation ?? UnitOfObservation.DOCUMENT);
  ui.pattern.value = project?.entityIdentificationPattern ?? "";
  ui.extractionMode.value = String(effectiveExtractionMode(project?.extractionMode));
  ui.description.value = project?.description ?? "";
}

async function save(): Promise<void> {
  const fields = {
    name: ui.name.value,
    domain: ui.domain.value,
    language: ui.language.value,
    unitOfObservation: Number(ui.unit.value) as UnitOfObservation,
    entityIdentificationPattern: ui.pattern.value,
    extractionMode: Number(ui.extractionMode.value) as ExtractionMode,
    description: ui.description.value,
  };
  const editing = ui.form.dataset.editing;
  let saved: Project;
  if (editing) {
    const paths = [
      "name",
      "domain",
      "language",
      "unit_of_observation",
      "entity_identification_pattern",
      "extraction_mode",
      "description",
    ];
    const response = await api.projects.updateProject({
      project: { ...fields, id: editing },
      updateMask: { paths },
    });
    saved = required(response.project, "UpdateProject");
  } else {
    saved = required((await api.projects.createProject({ project: fields })).project, "CreateProject");
  }
  await showProjects(saved.id);
}

ui.chooser.addEventListener("change", chosen);
ui.newProject.addEventListener("click", () => {
  fill(undefined);
  ui.name.focus();
});
onSubmit(ui.form, ui.error, save, "project.");
