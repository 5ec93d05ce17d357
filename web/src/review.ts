/**
 * The Review section (FR-030): a document's text with every value's quote highlighted at its
 * offsets, the document's values beside it, and a verdict on each (correct, incorrect, partly
 * correct, with the right value and a note) that becomes the researcher's feedback. Made for
 * the keyboard: the arrow keys (or J and K) move between values and show the value's quote; C,
 * I and P give the verdict; Enter saves it and moves on.
 */
import {
  FeedbackType,
  UnitOfObservation,
  type Project,
  type ResultColumn,
  type ResultRow,
} from "@coderai/sdk";

import { element, onSubmit, showError } from "./dom.js";
import { api } from "./session.js";
import { documentText, showHighlighted, typedValue, valueText, type Highlight } from "./values.js";

const ui = {
  section: element("review", HTMLElement),
  document: element("review-document", HTMLSelectElement),
  nextDocument: element("review-next-document", HTMLButtonElement),
  status: element("review-status", HTMLParagraphElement),
  error: element("review-error", HTMLParagraphElement),
  values: element("review-values", HTMLOListElement),
  text: element("review-text", HTMLDivElement),
  form: element("verdict-form", HTMLFormElement),
  title: element("verdict-title", HTMLParagraphElement),
  value: element("verdict-value", HTMLInputElement),
  categories: element("verdict-categories", HTMLDataListElement),
  note: element("verdict-note", HTMLInputElement),
};

/** One value under review: the extraction it is, its variable and where its quotes are. */
type Reviewed = {
  key: string;
  extractionId: string;
  column: ResultColumn;
  label: string;
  item: HTMLLIElement;
};

let project: Project | undefined;
let reviewed: Reviewed[] = [];
let selected = -1;
let latest = 0;

export async function showReview(chosen: Project | undefined): Promise<void> {
  // The same project again (saved, say): the document under review stays.
  const same = chosen !== undefined && chosen.id === project?.id;
  project = chosen;
  ui.section.hidden = chosen === undefined;
  if (!same) {
    latest += 1;
    ui.values.replaceChildren();
    ui.text.replaceChildren();
    ui.form.hidden = true;
  }
  if (chosen === undefined) {
    return;
  }
  const documents = await api.documents.listDocuments({ projectId: chosen.id, pageSize: 200 });
  const shown = ui.document.value;
  ui.document.replaceChildren(
    new Option("Choose a document", ""),
    ...documents.documents.map((document) => new Option(document.filename, document.id)),
  );
  if (same) {
    ui.document.value = shown;
  }
  ui.status.textContent = documents.documents.length
    ? ""
    : "No documents yet: upload some and run a sample job.";
}

async function showDocument(documentId: string): Promise<void> {
  if (project === undefined || !documentId) {
    return;
  }
  const request = ++latest;
  ui.status.textContent = "Loading the document and its values…";
  const [results, text] = await Promise.all([
    api.exports.listResults({ projectId: project.id, documentId, pageSize: 500 }),
    documentText(documentId),
  ]);
  if (request !== latest) {
    return;
  }
  const entities = project.unitOfObservation === UnitOfObservation.ENTITY;
  const highlights: Highlight[] = [];
  reviewed = results.rows.flatMap((row) => rowValues(row, results.columns, entities, highlights));
  ui.values.replaceChildren(...reviewed.map((value) => value.item));
  showHighlighted(ui.text, text, highlights);
  ui.status.textContent = reviewed.length
    ? `${reviewed.length} values to review; ${highlights.length} quotes highlighted.`
    : "Nothing extracted from this document yet: run a job first.";
  ui.form.hidden = reviewed.length === 0;
  select(0, false);
}

function rowValues(
  row: ResultRow,
  columns: ResultColumn[],
  entities: boolean,
  highlights: Highlight[],
): Reviewed[] {
  const found: Reviewed[] = [];
  row.cells.forEach((cell, index) => {
    const column = columns[index];
    if (!cell.extractionId || column === undefined) {
      return;
    }
    const key = cell.extractionId;
    const name = column.displayName || column.name;
    const label = entities ? `${name} · ${row.entityName || row.entityKey}` : name;
    const value = valueText(cell.value) || "(not stated)";
    const item = document.createElement("li");
    item.id = `review-value-${cell.extractionId}`;
    item.tabIndex = -1;
    item.setAttribute("role", "option");
    item.dataset.variable = column.name;
    const confidence = `${Math.round(cell.confidence * 100)}%`;
    item.append(
      Object.assign(document.createElement("span"), { className: "verdict" }),
      Object.assign(document.createElement("strong"), { textContent: `${label}: ` }),
      `${value} (confidence ${confidence})`,
    );
    for (const quote of cell.valueEvidence) {
      if (quote.sourceEndOffset > quote.sourceStartOffset) {
        highlights.push({ start: quote.sourceStartOffset, end: quote.sourceEndOffset, owner: key });
      }
    }
    item.addEventListener("click", () => {
      select(
        reviewed.findIndex((value) => value.key === key),
        true,
      );
    });
    found.push({ key, extractionId: cell.extractionId, column, label, item });
  });
  return found;
}

/** Makes the value at `index` the one under review: its quote stands out in the text. */
function select(index: number, focus: boolean): void {
  const value = reviewed[index];
  if (value === undefined) {
    return;
  }
  selected = index;
  for (const [position, other] of reviewed.entries()) {
    other.item.setAttribute("aria-selected", String(position === index));
  }
  ui.values.setAttribute("aria-activedescendant", value.item.id);
  let first: Element | undefined;
  for (const mark of ui.text.querySelectorAll("mark")) {
    const current = (mark as HTMLElement).dataset.owners?.split(" ").includes(value.key) ?? false;
    mark.classList.toggle("current", current);
    first ??= current ? mark : undefined;
  }
  first?.scrollIntoView({ block: "nearest" });
  ui.title.textContent = `Verdict on ${value.label}`;
  ui.categories.replaceChildren(...value.column.categories.map((label) => new Option(label)));
  ui.value.value = "";
  ui.note.value = "";
  for (const radio of verdictRadios()) {
    radio.checked = false;
  }
  if (focus) {
    ui.values.focus();
  }
}

function verdictRadios(): HTMLInputElement[] {
  return [...ui.form.querySelectorAll<HTMLInputElement>('input[name="verdict"]')];
}

function choose(verdict: keyof typeof FeedbackType): void {
  for (const radio of verdictRadios()) {
    radio.checked = radio.value === verdict;
  }
}

onSubmit(
  ui.form,
  ui.error,
  async () => {
    const value = reviewed[selected];
    const verdict = verdictRadios().find((radio) => radio.checked)?.value as
      | keyof typeof FeedbackType
      | undefined;
    if (value === undefined || verdict === undefined) {
      throw new Error("Choose a verdict: correct (C), incorrect (I) or partly correct (P).");
    }
    await api.jobs.createFeedback({
      extractionId: value.extractionId,
      feedbackType: FeedbackType[verdict],
      correctedValue:
        verdict === "CORRECT" ? undefined : typedValue(ui.value.value, value.column.type),
      userNote: ui.note.value,
    });
    value.item.dataset.verdict = verdict;
    const words = verdict.toLowerCase().replace("_", " ");
    const shown = value.item.querySelector(".verdict");
    if (shown) shown.textContent = words;
    ui.status.textContent = `Saved: ${value.label} is ${words}.`;
    select(Math.min(selected + 1, reviewed.length - 1), true);
  },
);

ui.values.tabIndex = 0;
ui.values.setAttribute("role", "listbox");
ui.values.addEventListener("keydown", (event) => {
  const key = event.key.toLowerCase();
  if (event.altKey || event.ctrlKey || event.metaKey) {
    return;
  }
  if (key === "arrowdown" || key === "j") {
    select(Math.min(selected + 1, reviewed.length - 1), true);
  } else if (key === "arrowup" || key === "k") {
    select(Math.max(selected - 1, 0), true);
  } else if (key === "c") {
    choose("CORRECT");
    ui.form.requestSubmit();
  } else if (key === "i" || key === "p") {
    choose(key === "i" ? "INCORRECT" : "PARTIALLY_CORRECT");
    ui.value.focus();
  } else {
    return;
  }
  event.preventDefault();
});
ui.document.addEventListener("change", () => {
  showDocument(ui.document.value).catch((error: unknown) => showError(ui.error, error));
});
ui.nextDocument.addEventListener("click", () => {
  const next = Math.min(ui.document.selectedIndex + 1, ui.document.options.length - 1);
  ui.document.selectedIndex = next;
  ui.document.dispatchEvent(new Event("change"));
});
