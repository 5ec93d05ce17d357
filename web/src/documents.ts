/**
 * The Documents section: upload many files or a folder through the resumable upload (each
 * file with its own progress bar, two at a time: the server takes four uploads in flight per
 * researcher and tells a busy client when to try again), and the project's documents with
 * their status and, for those that failed, why; refreshed until parsing settles.
 */
import { DocumentStatus, uploadFile, type Document, type Project } from "@coderai/sdk";

import { element, row, showError } from "./dom.js";
import { api } from "./session.js";

const UPLOADS_AT_ONCE = 2;
const POLL_MS = 700;
const SETTLED = new Set([DocumentStatus.READY, DocumentStatus.FAILED]);

const ui = {
  section: element("documents", HTMLElement),
  files: element("upload-files", HTMLInputElement),
  folder: element("upload-folder", HTMLInputElement),
  uploads: element("uploads", HTMLUListElement),
  status: element("documents-status", HTMLParagraphElement),
  table: element("documents-body", HTMLTableSectionElement),
  error: element("documents-error", HTMLParagraphElement),
};

let project: Project | undefined;
let polling: number | undefined;

export async function showDocuments(chosen: Project | undefined): Promise<void> {
  project = chosen;
  ui.section.hidden = chosen === undefined;
  ui.uploads.replaceChildren();
  await refresh();
}

/** The project's documents; polls again while any is still being parsed. */
async function refresh(): Promise<void> {
  window.clearTimeout(polling);
  if (!project) return;
  const shown = project;
  const documents: Document[] = [];
  let pageToken = "";
  do {
    const page = await api.documents.listDocuments({ projectId: shown.id, pageSize: 200, pageToken });
    documents.push(...page.documents);
    pageToken = page.nextPageToken;
  } while (pageToken);
  if (shown !== project) return;
  ui.table.replaceChildren(
    ...documents.map((document) => {
      const line = row(
        document.filename,
        DocumentStatus[document.status],
        document.wordCount ? String(document.wordCount) : "",
        document.errorMessage,
      );
      line.dataset.testid = "document";
      line.dataset.status = DocumentStatus[document.status];
      return line;
    }),
  );
  const waiting = documents.filter((document) => !SETTLED.has(document.status)).length;
  const failed = documents.filter((document) => document.status === DocumentStatus.FAILED).length;
  ui.status.textContent = documents.length
    ? `${documents.length} documents: ${documents.length - waiting - failed} ready, ` +
      `${failed} failed${waiting ? `, ${waiting} being parsed` : ""}`
    : "No documents yet.";
  if (waiting) {
    polling = window.setTimeout(() => void refresh().catch((e) => showError(ui.error, e)), POLL_MS);
  }
}

/** One list item per file: its name, a progress bar and what became of it. */
function progressItem(file: File): { item: HTMLLIElement; bar: HTMLProgressElement; note: HTMLElement } {
  const item = document.createElement("li");
  item.dataset.testid = "upload";
  const name = file.webkitRelativePath || file.name;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `Upload of ${name}`);
  const note = document.createElement("span");
  note.className = "upload-note";
  item.append(`${name} `, bar, " ", note);
  ui.uploads.append(item);
  return { item, bar, note };
}

async function upload(files: File[]): Promise<void> {
  if (!project || files.length === 0) return;
  const projectId = project.id;
  const queue = files.map((file) => ({ file, ...progressItem(file) }));
  const next = async (): Promise<void> => {
    for (let entry = queue.shift(); entry; entry = queue.shift()) {
      const { file, item, bar, note } = entry;
      try {
        const results = await uploadFile(api, projectId, file, {
          onProgress: (sent, total) => (bar.value = total ? sent / total : 1),
        });
        bar.value = 1;
        const refused = results.filter((result) => result.errorMessage);
        note.textContent = refused.length
          ? `refused: ${refused.map((r) => `${r.filename}: ${r.errorMessage}`).join("; ")}`
          : results.some((result) => result.duplicate)
            ? "already uploaded"
            : "uploaded";
        item.dataset.outcome = refused.length ? "refused" : "uploaded";
      } catch (error) {
        item.dataset.outcome = "failed";
        showError(note, error);
        note.hidden = false;
        note.classList.add("error");
      }
      await refresh();
    }
  };
  await Promise.all(Array.from({ length: UPLOADS_AT_ONCE }, next));
  ui.status.focus();
}

for (const input of [ui.files, ui.folder]) {
  input.addEventListener("change", () => {
    // A folder brings its hidden files too (.DS_Store and the like): not documents.
    const files = [...(input.files ?? [])].filter((file) => !file.name.startsWith("."));
    input.value = "";
    showError(ui.error, undefined);
    void upload(files).catch((error: unknown) => showError(ui.error, error));
  });
}
