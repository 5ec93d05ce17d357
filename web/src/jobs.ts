/**
 * The Jobs section: estimate, then start a SAMPLE or a FULL job of the chosen project and watch
 * it live over grpc-web (WatchJob) with a progress bar, pause, resume or cancel it, and see
 * which documents were processed, skipped (already done) or failed, by filename. The project's
 * jobs are listed, so that a reload can get back to a running one. The estimate gives the job's
 * cost in both extraction modes, marking the project's; a job shows the mode it extracts in.
 */
import {
  Code,
  ConnectError,
  dollars,
  ExtractionMode,
  JobDocumentStatus,
  JobEventType,
  JobStatus,
  JobType,
  type ModeEstimate,
  type Money,
  type ProcessingJob,
  type Project,
  usd,
  type WatchJobResponse,
} from "@coderai/sdk";

import { button, element, onSubmit, required, row, showError } from "./dom.js";
import { effectiveExtractionMode, extractionModeWords } from "./projects.js";
import { refreshResults } from "./results.js";
import { api, renewTokens } from "./session.js";

const ACTIVE = new Set([JobStatus.PENDING, JobStatus.RUNNING, JobStatus.PAUSED]);

const ui = {
  setup: element("job-setup", HTMLElement),
  form: element("job-form", HTMLFormElement),
  sampleSize: element("sample-size", HTMLInputElement),
  costBudget: element("cost-budget", HTMLInputElement),
  estimate: element("estimate", HTMLOutputElement),
  estimateModes: element("estimate-modes-wrapper", HTMLElement),
  estimateModesBody: element("estimate-modes-body", HTMLTableSectionElement),
  jobs: element("jobs-body", HTMLTableSectionElement),
  job: element("job", HTMLElement),
  jobId: element("job-id", HTMLElement),
  jobStatus: element("job-status", HTMLParagraphElement),
  progress: element("progress", HTMLProgressElement),
  progressText: element("progress-text", HTMLOutputElement),
  pause: element("pause-job", HTMLButtonElement),
  resume: element("resume-job", HTMLButtonElement),
  cancel: element("cancel-job", HTMLButtonElement),
  events: element("events", HTMLOListElement),
  documentsStatus: element("job-documents-status", HTMLParagraphElement),
  documents: element("job-documents-body", HTMLTableSectionElement),
  error: element("error", HTMLParagraphElement),
};

let project: Project | undefined;
let current: ProcessingJob | undefined;
// The watch in progress, ended when another job or project is shown.
let watching: AbortController | undefined;

export async function showJobs(chosen: Project | undefined): Promise<void> {
  project = chosen;
  watching?.abort();
  ui.setup.hidden = chosen === undefined;
  ui.job.hidden = true;
  ui.estimate.value = "";
  ui.estimateModes.hidden = true;
  if (!chosen) return;
  const jobs = await listJobs(chosen);
  const active = jobs.find((job) => ACTIVE.has(job.status));
  if (active) {
    void follow(active);  // back to the job that runs, after a reload
  }
}

async function listJobs(chosen: Project): Promise<ProcessingJob[]> {
  const { jobs } = await api.jobs.listJobs({ projectId: chosen.id, pageSize: 20 });
  ui.jobs.replaceChildren(
    ...jobs.map((job) =>
      row(
        JobType[job.type],
        JobStatus[job.status],
        extractionModeWords(job.extractionMode),
        `${job.documentsProcessed + job.documentsFailed}/${job.documentsTotal}`,
        job.createTime ? new Date(Number(job.createTime.seconds) * 1000).toLocaleString() : "",
        button("Show", ui.error, () => follow(job)),
      ),
    ),
  );
  return jobs;
}

function selection(type: JobType) {
  return {
    projectId: required(project, "the project").id,
    type,
    sampleSize: type === JobType.SAMPLE ? ui.sampleSize.valueAsNumber : 0,
  };
}

/** US dollars, or why there is no figure. */
function usdText(money: Money | undefined): string {
  const amount = dollars(money);
  return amount === undefined ? "unknown (the model has no price)" : `$${amount.toFixed(4)}`;
}

async function estimate(): Promise<void> {
  const type = JobType.SAMPLE;
  const found = required((await api.jobs.estimateJob({ selection: selection(type) })).estimate, "EstimateJob");
  const cost = found.maxCost === undefined ? "cost unknown" : `at most ${usdText(found.maxCost)}`;
  const mode = effectiveExtractionMode(found.extractionMode);
  ui.estimate.value =
    `${found.documents} documents (${found.documentsAlreadyDone} already done) × ${found.variables} variables, ` +
    `${extractionModeWords(mode)} (this project's choice): ` +
    `${found.llmCalls} model calls, ${found.promptTokens} prompt tokens, ${cost}` +
    (found.warnings.length ? ` — ${found.warnings.join(" ")}` : "");
  showModes(mode, [
    [ExtractionMode.PER_VARIABLE, found.perVariable],
    [ExtractionMode.GROUPED, found.grouped],
  ]);
}

/** The same job in each extraction mode, the project's marked: the researcher chooses knowingly. */
function showModes(chosen: ExtractionMode, modes: [ExtractionMode, ModeEstimate | undefined][]): void {
  const lines = modes.flatMap(([mode, figures]) => {
    if (!figures) return [];
    const words = extractionModeWords(mode);
    const line = row(
      mode === chosen ? `${words} (this project)` : words,
      figures.llmCalls.toLocaleString(),
      `${figures.promptTokens.toLocaleString()} (${figures.cacheablePromptTokens.toLocaleString()} cacheable)`,
      figures.maxOutputTokens.toLocaleString(),
      usdText(figures.maxCost),
      usdText(figures.maxCostCached),
    );
    line.dataset.testid = "estimate-mode";
    line.dataset.mode = ExtractionMode[mode];
    line.dataset.chosen = String(mode === chosen);
    return [line];
  });
  ui.estimateModesBody.replaceChildren(...lines);
  ui.estimateModes.hidden = lines.length === 0;
}

async function start(type: JobType): Promise<void> {
  // An empty field is no budget; the job pauses before a document that could pass one.
  const budget = ui.costBudget.value.trim();
  const { job } = await api.jobs.createJob({
    selection: selection(type),
    costBudget: budget ? usd(budget) : undefined,
  });
  await follow(required(job, "CreateJob"));
}

/** Shows the job and watches it until it ends; then the results table is refreshed. */
async function follow(job: ProcessingJob): Promise<void> {
  watching?.abort();
  const controller = (watching = new AbortController());
  current = job;
  ui.events.replaceChildren();
  ui.jobId.textContent = job.id;
  ui.job.hidden = false;
  showJob(job);
  await showJobDocuments();
  try {
    await watchJob(job.id, controller.signal);
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    return;
  }
  // The events' snapshots carry the job's progress; the job as read has every figure (its
  // cached input tokens among them).
  showJob(required((await api.jobs.getJob({ jobId: job.id })).job, "GetJob"));
  await showJobDocuments();
  if (project) await listJobs(project);
  // The job has ended (or paused): the table shows what it extracted.
  await refreshResults();
}

/** Every event of the job until it ends. The stream stops when the access token expires: the
 * tokens are renewed and the watch goes on after the last event seen. */
async function watchJob(jobId: string, signal: AbortSignal): Promise<void> {
  let lastEventId = "";
  for (;;) {
    let received = 0;
    try {
      for await (const event of api.jobs.watchJob({ jobId, lastEventId }, { signal })) {
        received += 1;
        lastEventId = event.eventId;
        showEvent(event);
      }
      return;
    } catch (error) {
      const expired = ConnectError.from(error).code === Code.Unauthenticated;
      if (!expired || received === 0 || !(await renewTokens())) {
        throw error;
      }
    }
  }
}

function showEvent(event: WatchJobResponse): void {
  const item = document.createElement("li");
  item.dataset.testid = "event";
  const type = JobEventType[event.type].toLowerCase();
  item.dataset.eventType = type;
  item.dataset.eventId = event.eventId;
  const kind = document.createElement("span");
  kind.className = `event-type ${type}`;
  kind.textContent = type;
  const details = [];
  if (event.documentId) {
    details.push(`document ${event.documentId.slice(0, 8)}`);
  }
  if (event.job) {
    const done = event.job.documentsProcessed + event.job.documentsFailed;
    details.push(`${done}/${event.job.documentsTotal} documents`);
  }
  if (event.message) {
    details.push(event.message);
  }
  item.append(kind, details.length ? ` — ${details.join(" · ")}` : "");
  ui.events.append(item);
  if (event.job) {
    showJob(event.job);
  }
  if (event.documentId) {
    void showJobDocuments().catch((error: unknown) => showError(ui.error, error));
  }
}

function showJob(job: ProcessingJob): void {
  current = job;
  ui.progress.value = job.progressPercent;
  ui.progressText.value = `${Math.round(job.progressPercent)}%`;
  const parts = [
    JobStatus[job.status],
    `${job.documentsProcessed} of ${job.documentsTotal} documents done`,
    `${job.documentsFailed} failed`,
    extractionModeWords(job.extractionMode),
    `${job.tokensUsed} tokens (${job.inputTokens} in, ${job.cachedInputTokens} of them from the ` +
      `prompt cache; ${job.outputTokens} out), ${usdText(job.cost)}`,
  ];
  if (job.costBudget) {
    parts.push(`pauses before it spends more than ${usdText(job.costBudget)}`);
  }
  if (job.statusReason) {
    parts.push(job.statusReason);
  }
  ui.jobStatus.textContent = parts.join(" · ");
  ui.jobStatus.dataset.status = JobStatus[job.status];
  ui.jobStatus.dataset.extractionMode = ExtractionMode[effectiveExtractionMode(job.extractionMode)];
  const running = job.status === JobStatus.PENDING || job.status === JobStatus.RUNNING;
  ui.pause.disabled = !running;
  ui.resume.disabled = job.status !== JobStatus.PAUSED;
  ui.cancel.disabled = !ACTIVE.has(job.status);
}

const OUTCOME_WORDS: Record<JobDocumentStatus, string> = {
  [JobDocumentStatus.UNSPECIFIED]: "",
  [JobDocumentStatus.PENDING]: "waiting",
  [JobDocumentStatus.RUNNING]: "being extracted",
  [JobDocumentStatus.PROCESSED]: "processed",
  [JobDocumentStatus.SKIPPED]: "skipped (already done)",
  [JobDocumentStatus.FAILED]: "failed",
};

// Each document's event reads the list again, and the answers may come back out of order.
let documentsRead = 0;

/** What became of each document of the job, by filename; an answer older than one shown is
 * dropped. */
async function showJobDocuments(): Promise<void> {
  if (!current) return;
  const read = ++documentsRead;
  const reply = await api.jobs.listJobDocuments({ jobId: current.id, pageSize: 200 });
  if (read < documentsRead) return; // a later read is under way, with a newer answer
  ui.documents.replaceChildren(
    ...reply.documents.map((document) => {
      const line = row(document.filename, OUTCOME_WORDS[document.status], document.error);
      line.dataset.testid = "job-document";
      line.dataset.outcome = JobDocumentStatus[document.status];
      return line;
    }),
  );
  const counts = reply.counts;
  ui.documentsStatus.textContent = counts
    ? `${counts.processed} processed, ${counts.skipped} skipped (already done), ` +
      `${counts.failed} failed, ${counts.pending + counts.running} to go`
    : "";
}

async function control(action: "pauseJob" | "resumeJob" | "cancelJob"): Promise<void> {
  if (!current) return;
  const { job } = await api.jobs[action]({ jobId: current.id });
  showJob(required(job, action));
  await showJobDocuments(); // a document in flight may have finished meanwhile
  if (action === "resumeJob") {
    await follow(required(job, action));
  }
}

onSubmit(ui.form, ui.error, async (submitter) => {
  if (submitter?.dataset.action === "estimate") {
    await estimate();
  } else {
    await start(submitter?.dataset.action === "full" ? JobType.FULL : JobType.SAMPLE);
  }
});
for (const [control_, action] of [
  [ui.pause, "pauseJob"],
  [ui.resume, "resumeJob"],
  [ui.cancel, "cancelJob"],
] as const) {
  control_.addEventListener("click", () => {
    showError(ui.error, undefined);
    void control(action).catch((error: unknown) => showError(ui.error, error));
  });
}
