/**
 * The Results section: the chosen project's dataset as a table (ListResults), one row per unit
 * of observation and one column per variable, 25 rows a page, filtered by cell status. A cell
 * shows its value and says why it has none or why it is unsure; its tooltip, and the line under
 * the table for whoever moves through the cells with the keyboard, give confidence and evidence.
 */
import {
  CellStatus,
  EvidenceMatch,
  UnitOfObservation,
  type ListResultsResponse,
  type Project,
  type ResultCell,
  type ResultColumn,
  type ResultRow,
} from "@coderai/sdk";

import { element, showError } from "./dom.js";
import { api } from "./session.js";
import { valueText } from "./values.js";

const PAGE_SIZE = 25;

type Filter = { label: string; statuses: CellStatus[] };
const FILTERS: readonly Filter[] = [
  { label: "All", statuses: [] },
  { label: "Low confidence", statuses: [CellStatus.LOW_CONFIDENCE] },
  { label: "Not found", statuses: [CellStatus.NOT_FOUND] },
  { label: "Failed", statuses: [CellStatus.FAILED] },
  { label: "Not processed", statuses: [CellStatus.NOT_PROCESSED] },
];

/** The words a cell's details start with. */
const STATUS_WORDS: Record<CellStatus, string> = {
  [CellStatus.UNSPECIFIED]: "",
  [CellStatus.SUCCESS]: "Extracted",
  [CellStatus.LOW_CONFIDENCE]: "Low confidence: the model was unsure",
  [CellStatus.NOT_FOUND]: "Not found: the text does not state a value",
  [CellStatus.FAILED]: "Failed",
  [CellStatus.NOT_PROCESSED]: "Not processed yet",
};

/** How a cell without a sure value is marked: its class (the colour) and its marker, with the
 * words a screen reader says for it when the marker is a sign. */
type Marker = { className: string; shown: string; spoken: string };
const MARKERS: Partial<Record<CellStatus, Marker>> = {
  [CellStatus.LOW_CONFIDENCE]: {
    className: "low-confidence",
    shown: "?",
    spoken: "low confidence",
  },
  [CellStatus.NOT_FOUND]: { className: "not-found", shown: "not found", spoken: "not found" },
  [CellStatus.FAILED]: { className: "failed", shown: "failed", spoken: "failed" },
  [CellStatus.NOT_PROCESSED]: {
    className: "not-processed",
    shown: "not processed",
    spoken: "not processed",
  },
};

const EVIDENCE_WORDS: Record<EvidenceMatch, string> = {
  [EvidenceMatch.UNSPECIFIED]: "",
  [EvidenceMatch.EXACT]: "exact",
  [EvidenceMatch.FUZZY]: "fuzzy",
  [EvidenceMatch.NOT_FOUND]: "the quote is not in the text",
  [EvidenceMatch.NO_QUOTE]: "no quote given",
  [EvidenceMatch.AMBIGUOUS]: "found at several places",
};

const ui = {
  section: element("results", HTMLElement),
  filter: element("results-filter", HTMLSelectElement),
  refresh: element("results-refresh", HTMLButtonElement),
  status: element("results-status", HTMLParagraphElement),
  error: element("results-error", HTMLParagraphElement),
  table: element("results-table", HTMLTableElement),
  caption: element("results-caption", HTMLTableCaptionElement),
  head: element("results-head", HTMLTableSectionElement),
  body: element("results-body", HTMLTableSectionElement),
  cellDetails: element("cell-details", HTMLParagraphElement),
  previous: element("results-previous", HTMLButtonElement),
  next: element("results-next", HTMLButtonElement),
};

let project: Project | undefined;
// The page token of every page up to the one shown ("" for the first), and the next one's.
let pageTokens: readonly string[] = [""];
let nextPageToken = "";
// Answers to anything but the latest request are stale (another project, filter or page).
let latestRequest = 0;

/** Shows the first page of this project's results; `undefined` hides the section. */
export function showResults(chosen: Project | undefined): void {
  project = chosen;
  ui.section.hidden = chosen === undefined;
  void load([""]);
}

/** Loads the page shown again, for results that have changed (a job ended). */
export function refreshResults(): Promise<void> {
  return load(pageTokens);
}

/** Loads the last page of `tokens`; what fails is shown in the section, not thrown. */
async function load(tokens: readonly string[]): Promise<void> {
  if (project === undefined) {
    return;
  }
  const request = ++latestRequest;
  const shownProject = project;
  const filter = FILTERS[ui.filter.selectedIndex] ?? FILTERS[0];
  ui.table.setAttribute("aria-busy", "true");
  ui.status.textContent = "Loading results…";
  try {
    const page = await api.exports.listResults({
      projectId: shownProject.id,
      pageSize: PAGE_SIZE,
      pageToken: tokens.at(-1) ?? "",
      statuses: filter.statuses,
    });
    if (request !== latestRequest) {
      return;
    }
    pageTokens = tokens;
    nextPageToken = page.nextPageToken;
    showError(ui.error, undefined);
    showPage(shownProject, filter, page);
  } catch (error) {
    if (request === latestRequest) {
      ui.status.textContent = "";
      showError(ui.error, error);
    }
  } finally {
    if (request === latestRequest) {
      ui.table.removeAttribute("aria-busy");
    }
  }
}

function showPage(shown: Project, filter: Filter, page: ListResultsResponse): void {
  const entities = shown.unitOfObservation === UnitOfObservation.ENTITY;
  const pageNumber = pageTokens.length;
  const focused = focusedCellPosition();
  ui.caption.textContent = `Results of ${shown.name}`;
  if (filter.statuses.length) {
    ui.caption.textContent += `: ${filter.label.toLowerCase()}`;
  }
  ui.head.replaceChildren(headerRow(page.columns, entities));
  const rows = page.rows.map((row) => resultRow(row, page.columns, entities));
  const width = page.columns.length + (entities ? 2 : 1);
  ui.body.replaceChildren(...(rows.length ? rows : [emptyRow(width, filter)]));
  ui.cellDetails.textContent = "";
  rovingCells(focused);
  ui.previous.disabled = pageNumber === 1;
  ui.next.disabled = !nextPageToken;
  const count = `${page.rows.length} ${page.rows.length === 1 ? "row" : "rows"}`;
  const more = nextPageToken ? ", more on the next page" : "";
  ui.status.textContent = `Page ${pageNumber}: ${count}${more}.`;
}

function headerRow(columns: ResultColumn[], entities: boolean): HTMLTableRowElement {
  const row = document.createElement("tr");
  const names = ["Document", ...(entities ? ["Entity"] : [])];
  row.append(...names.map((name) => headerCell("col", name)));
  for (const column of columns) {
    const cell = headerCell("col", column.displayName || column.name);
    if (column.displayName && column.displayName !== column.name) {
      cell.title = column.name;
    }
    row.append(cell);
  }
  return row;
}

function resultRow(
  row: ResultRow,
  columns: ResultColumn[],
  entities: boolean,
): HTMLTableRowElement {
  const tableRow = document.createElement("tr");
  tableRow.dataset.documentId = row.documentId;
  const documentCell = headerCell("row", row.filename);
  documentCell.title = `Document ${row.documentId}`;
  tableRow.append(documentCell);
  if (entities) {
    const entity = headerCell("row", row.entityName || row.entityKey);
    entity.title = `Entity ${row.entityKey}`;
    tableRow.append(entity);
  }
  const cells = new Map(row.cells.map((cell) => [cell.variableId, cell]));
  tableRow.append(...columns.map((column) => resultCell(cells.get(column.variableId))));
  return tableRow;
}

function headerCell(scope: "col" | "row", text: string): HTMLTableCellElement {
  const cell = document.createElement("th");
  cell.scope = scope;
  cell.textContent = text;
  return cell;
}

function emptyRow(columns: number, filter: Filter): HTMLTableRowElement {
  const row = document.createElement("tr");
  const cell = document.createElement("td");
  cell.colSpan = columns;
  cell.className = "empty";
  cell.textContent = filter.statuses.length
    ? "No rows have cells with this status."
    : "No documents in this project yet.";
  row.append(cell);
  return row;
}

/** A cell: its value, a marker when the value is missing or unsure, its details as title. */
function resultCell(cell: ResultCell | undefined): HTMLTableCellElement {
  const tableCell = document.createElement("td");
  const status = cell?.status ?? CellStatus.NOT_PROCESSED;
  tableCell.dataset.status = CellStatus[status];
  const value = valueText(cell?.value);
  if (value) {
    tableCell.append(span("value", value));
  }
  const marker = MARKERS[status];
  if (marker) {
    tableCell.classList.add(marker.className);
    const shown = span("marker", marker.shown);
    if (marker.shown === marker.spoken) {
      tableCell.append(shown);
    } else {
      shown.ariaHidden = "true";
      tableCell.append(shown, span("visually-hidden", marker.spoken));
    }
  }
  tableCell.title = cell ? cellDetails(cell).join("\n") : STATUS_WORDS[status];
  return tableCell;
}

function span(className: string, text: string): HTMLSpanElement {
  const found = document.createElement("span");
  found.className = className;
  found.textContent = text;
  return found;
}

/** What a cell's status, confidence and evidence are, a line each. */
function cellDetails(cell: ResultCell): string[] {
  const lines = [STATUS_WORDS[cell.status]];
  if (cell.status !== CellStatus.NOT_PROCESSED && cell.status !== CellStatus.FAILED) {
    lines.push(`Confidence: ${Math.round(cell.confidence * 100)}%`);
  }
  // Each value's quote (one for a single value), with how far it places the value.
  const quotes = cell.valueEvidence.length
    ? cell.valueEvidence
    : [{ sourceText: cell.sourceText, evidenceMatch: cell.evidenceMatch, candidates: 0, weak: false }];
  for (const quote of quotes) {
    if (quote.sourceText) {
      lines.push(`Evidence: “${quote.sourceText}”`);
    }
    if (quote.evidenceMatch !== EvidenceMatch.UNSPECIFIED) {
      const places = quote.candidates > 1 ? ` (${quote.candidates})` : "";
      const weak = quote.weak ? ", one word: weak evidence" : "";
      lines.push(`Evidence match: ${EVIDENCE_WORDS[quote.evidenceMatch]}${places}${weak}`);
    }
  }
  if (cell.error) {
    lines.push(`${cell.status === CellStatus.FAILED ? "Error" : "Flagged"}: ${cell.error}`);
  }
  return lines.filter(Boolean);
}

// The body's cells are one stop for Tab (the cell focused last); the arrow keys, Home and End
// move between them, and the focused cell's details show under the table (its title is its
// accessible description too).

type Position = { row: number; column: number };

function focusedCellPosition(): Position | undefined {
  const cell = document.activeElement;
  if (cell instanceof HTMLTableCellElement && ui.body.contains(cell)) {
    const row = cell.parentElement;
    const rowIndex = row instanceof HTMLTableRowElement ? row.sectionRowIndex : 0;
    return { row: rowIndex, column: cell.cellIndex };
  }
  return undefined;
}

/** Makes the body's cells focusable, the first one by Tab; focuses the cell at `focused`
 * again when a cell had the focus before the table changed. */
function rovingCells(focused: Position | undefined): void {
  const cells = [...ui.body.rows].flatMap((row) => [...row.cells]);
  cells.forEach((cell, index) => (cell.tabIndex = index === 0 ? 0 : -1));
  if (focused) {
    const row = ui.body.rows[Math.min(focused.row, ui.body.rows.length - 1)];
    row?.cells[Math.min(focused.column, row.cells.length - 1)]?.focus();
  }
}

function moveFocus(event: KeyboardEvent): void {
  const cell = event.target instanceof Element ? event.target.closest("td, th") : null;
  const row = cell?.parentElement;
  if (!(cell instanceof HTMLTableCellElement) || !(row instanceof HTMLTableRowElement)) {
    return;
  }
  let { sectionRowIndex: rowIndex } = row;
  let column = cell.cellIndex;
  switch (event.key) {
    case "ArrowUp":
      rowIndex -= 1;
      break;
    case "ArrowDown":
      rowIndex += 1;
      break;
    case "ArrowLeft":
      column -= 1;
      break;
    case "ArrowRight":
      column += 1;
      break;
    case "Home":
      column = 0;
      break;
    case "End":
      column = row.cells.length - 1;
      break;
    default:
      return;
  }
  event.preventDefault();
  ui.body.rows[rowIndex]?.cells[column]?.focus();
}

/** The focused cell becomes the table's stop for Tab, and its details show. */
function onCellFocus(event: FocusEvent): void {
  const cell = event.target;
  const row = cell instanceof HTMLTableCellElement ? cell.parentElement : null;
  if (!(cell instanceof HTMLTableCellElement) || !(row instanceof HTMLTableRowElement)) {
    return;
  }
  for (const other of ui.body.querySelectorAll<HTMLElement>('[tabindex="0"]')) {
    other.tabIndex = -1;
  }
  cell.tabIndex = 0;
  const unit = [...row.querySelectorAll("th")].map((header) => header.textContent).join(", ");
  const column = ui.head.rows[0]?.cells[cell.cellIndex]?.textContent ?? "";
  const details = cell.title.split("\n").join(" · ");
  ui.cellDetails.textContent = cell.tagName === "TH" ? details : `${unit} · ${column}: ${details}`;
}

ui.filter.replaceChildren(...FILTERS.map(({ label }) => new Option(label)));
ui.filter.addEventListener("change", () => void load([""]));
ui.refresh.addEventListener("click", () => void refreshResults());
ui.previous.addEventListener("click", () => void load(pageTokens.slice(0, -1)));
ui.next.addEventListener("click", () => void load([...pageTokens, nextPageToken]));
ui.body.addEventListener("keydown", moveFocus);
ui.body.addEventListener("focusin", onCellFocus);
