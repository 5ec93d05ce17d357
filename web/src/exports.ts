/**
 * The Export section: one button per format. A click builds an export of the chosen project
 * (CreateExport, then GetExport every half second while a worker builds it) and saves its file,
 * read from the DownloadExport stream, under the name the server gives it.
 */
import {
  ExportFormat,
  ExportStatus,
  type Export,
  type ExportFile,
  type Project,
} from "@coderai/sdk";

import { element, required, showError } from "./dom.js";
import { api } from "./session.js";

const FORMATS: ReadonlyArray<{ format: ExportFormat; label: string }> = [
  { format: ExportFormat.CSV_WIDE, label: "CSV (wide)" },
  { format: ExportFormat.CSV_LONG, label: "CSV (long)" },
  { format: ExportFormat.XLSX, label: "Excel" },
  { format: ExportFormat.STATA, label: "Stata" },
  { format: ExportFormat.SPSS, label: "SPSS" },
  { format: ExportFormat.DATA_PACKAGE, label: "Data package (zip)" },
  { format: ExportFormat.CODEBOOK, label: "Codebook (Markdown)" },
];
const POLL_INTERVAL_MS = 500;
// A build that takes longer is taken for stuck: the page stops waiting and says so.
const BUILD_TIMEOUT_MS = 10 * 60 * 1000;
// The browser reads a saved file from its object URL after the click returns.
const OBJECT_URL_LIFETIME_MS = 60 * 1000;

const ui = {
  section: element("export", HTMLElement),
  includeMetadata: element("include-metadata", HTMLInputElement),
  formats: element("export-formats", HTMLFieldSetElement),
  status: element("export-status", HTMLParagraphElement),
  error: element("export-error", HTMLParagraphElement),
};

let project: Project | undefined;
// One export at a time. The buttons say so with aria-disabled rather than disabled, so that
// the one pressed keeps the keyboard focus.
let busy = false;

/** Exports of this project from now on; `undefined` hides the section. */
export function showExports(chosen: Project | undefined): void {
  project = chosen;
  ui.section.hidden = chosen === undefined;
}

async function exportAndSave(format: ExportFormat, label: string): Promise<void> {
  if (busy || project === undefined) {
    return;
  }
  setBusy(true);
  showError(ui.error, undefined);
  try {
    const response = await api.exports.createExport({
      projectId: project.id,
      format,
      includeMetadata: ui.includeMetadata.checked,
    });
    const built = await untilBuilt(required(response.export, "CreateExport"), (status) => {
      ui.status.textContent = `Building the ${label} export: ${ExportStatus[status]}…`;
    });
    if (built.status !== ExportStatus.COMPLETED) {
      throw new Error(`The ${label} export failed: ${built.error || ExportStatus[built.status]}`);
    }
    ui.status.textContent = `Downloading ${built.filename}…`;
    const file = await download(built.id);
    const rows = `${built.rowCount} ${built.rowCount === 1 ? "row" : "rows"}`;
    ui.status.textContent = `Saved ${file.filename} (${sizeText(file.sizeBytes)}, ${rows}).`;
  } catch (error) {
    ui.status.textContent = "";
    showError(ui.error, error);
  } finally {
    setBusy(false);
  }
}

function setBusy(value: boolean): void {
  busy = value;
  for (const button of ui.formats.querySelectorAll("button")) {
    button.ariaDisabled = String(value);
  }
}

/** The export once it is no longer PENDING or RUNNING: as created when it was built in the
 * call, else as GetExport answers, asked every POLL_INTERVAL_MS. */
async function untilBuilt(
  created: Export,
  progress: (status: ExportStatus) => void,
): Promise<Export> {
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  let current = created;
  while (current.status === ExportStatus.PENDING || current.status === ExportStatus.RUNNING) {
    progress(current.status);
    if (Date.now() > deadline) {
      throw new Error(`The export is still ${ExportStatus[current.status]}; try again later.`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    current = required((await api.exports.getExport({ exportId: current.id })).export, "GetExport");
  }
  return current;
}

/** Reads the export's file from DownloadExport (its description first, then its bytes in
 * chunks), checks it is whole and saves it; its description. */
async function download(exportId: string): Promise<ExportFile> {
  let file: ExportFile | undefined;
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  for await (const message of api.exports.downloadExport({ exportId })) {
    if (message.file === undefined) {
      // A copy: Blob takes views of an ArrayBuffer, never of a SharedArrayBuffer, and the
      // decoder's views are typed as either.
      chunks.push(new Uint8Array(message.chunk));
    } else if (file === undefined && chunks.length === 0) {
      file = message.file;
    } else {
      throw new Error("DownloadExport described the file twice, or after its bytes");
    }
  }
  if (file === undefined) {
    throw new Error("DownloadExport sent no description of the file");
  }
  const blob = new Blob(chunks, { type: file.contentType || "application/octet-stream" });
  if (BigInt(blob.size) !== file.sizeBytes) {
    throw new Error(`${file.filename} came with ${blob.size} of its ${file.sizeBytes} bytes`);
  }
  // WebCrypto exists only in secure contexts (https, or the loopback address).
  if (file.sha256 && window.isSecureContext) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    const hex = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    if (hex !== file.sha256.toLowerCase()) {
      throw new Error(`${file.filename} does not match its SHA-256: it was damaged on the way`);
    }
  }
  save(blob, file.filename);
  return file;
}

/** Hands the file to the browser's downloads, as a link with a download name is. */
function save(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), OBJECT_URL_LIFETIME_MS);
}

function sizeText(bytes: bigint): string {
  const size = Number(bytes);
  if (size < 1024) {
    return `${size} bytes`;
  }
  const kilobytes = size / 1024;
  return kilobytes < 1024 ? `${kilobytes.toFixed(1)} kB` : `${(kilobytes / 1024).toFixed(1)} MB`;
}

ui.formats.append(
  ...FORMATS.map(({ format, label }) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.dataset.format = ExportFormat[format];
    button.addEventListener("click", () => void exportAndSave(format, label));
    return button;
  }),
);
