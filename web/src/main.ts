/**
 * The CoderAI web page: sign in, pick a project, start a SAMPLE job and watch its events arrive
 * over grpc-web (WatchJob) with a progress bar; below, the project's results table and its
 * exports (results.ts, exports.ts). Plain DOM; every call is the SDK's, to the gateway that
 * serves this page.
 */
import {
  Code,
  ConnectError,
  JobStatus,
  JobType,
  type ProcessingJob,
  type Project,
  type WatchJobResponse,
} from "@coderai/sdk";

import { element, required, showError } from "./dom.js";
import { showExports } from "./exports.js";
import { refreshResults, showResults } from "./results.js";
import { api, renewTokens, signIn } from "./session.js";

const ui = {
  signIn: element("sign-in", HTMLElement),
  signInForm: element("sign-in-form", HTMLFormElement),
  email: element("email", HTMLInputElement),
  password: element("password", HTMLInputElement),
  signedInAs: element("signed-in-as", HTMLParagraphElement),
  jobSetup: element("job-setup", HTMLElement),
  jobForm: element("job-form", HTMLFormElement),
  project: element("project", HTMLSelectElement),
  sampleSize: element("sample-size", HTMLInputElement),
  job: element("job", HTMLElement),
  jobId: element("job-id", HTMLElement),
  jobStatus: element("job-status", HTMLParagraphElement),
  progress: element("progress", HTMLProgressElement),
  progressText: element("progress-text", HTMLOutputElement),
  events: element("events", HTMLOListElement),
  error: element("error", HTMLParagraphElement),
};

// The signed-in researcher's projects by id, for the sections that show the chosen one.
const projects = new Map<string, Project>();

/** Runs a form's action with its buttons disabled; what fails is shown, not thrown. */
function onSubmit(form: HTMLFormElement, action: () => Promise<void>): void {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((button) => (button.disabled = true));
    showError(ui.error, undefined);
    action()
      .catch((error: unknown) => showError(ui.error, error))
      .finally(() => buttons.forEach((button) => (button.disabled = false)));
  });
}

async function signInAndListProjects(): Promise<void> {
  const user = await signIn(ui.email.value, ui.password.value);
  ui.password.value = "";
  ui.signedInAs.textContent = `Signed in as ${user?.email ?? ui.email.value}`;
  ui.signedInAs.hidden = false;
  showProjects(await listProjects());
  ui.signIn.hidden = true;
  ui.jobSetup.hidden = false;
  ui.project.focus();
}

async function listProjects(): Promise<Project[]> {
  const found: Project[] = [];
  let pageToken = "";
  do {
    const page = await api.projects.listProjects({ pageSize: 200, pageToken });
    found.push(...page.projects);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return found;
}

function showProjects(found: Project[]): void {
  projects.clear();
  found.forEach((project) => projects.set(project.id, project));
  const options = found.map((project) => new Option(project.name, project.id));
  ui.project.replaceChildren(...(options.length ? options : [new Option("No projects yet", "")]));
  showChosenProject();
}

/** The results and exports of the project chosen in the job form. */
function showChosenProject(): void {
  const project = projects.get(ui.project.value);
  showResults(project);
  showExports(project);
}

async function startSampleJob(): Promise<void> {
  const { job } = await api.jobs.createJob({
    selection: {
      projectId: ui.project.value,
      type: JobType.SAMPLE,
      sampleSize: ui.sampleSize.valueAsNumber,
    },
  });
  const created = required(job, "CreateJob");
  ui.events.replaceChildren();
  ui.jobId.textContent = created.id;
  ui.job.hidden = false;
  showJob(created);
  await watchJob(created.id);
  // The job has ended: the table shows what it extracted.
  await refreshResults();
}

/** Every event of the job until it ends. The stream stops when the access token expires: the
 * tokens are renewed and the watch goes on after the last event seen. */
async function watchJob(jobId: string): Promise<void> {
  let lastEventId = "";
  for (;;) {
    let received = 0;
    try {
      for await (const event of api.jobs.watchJob({ jobId, lastEventId })) {
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
  item.dataset.eventType = event.eventType;
  item.dataset.eventId = event.eventId;
  const kind = document.createElement("span");
  kind.className = `event-type ${event.eventType}`;
  kind.textContent = event.eventType;
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
}

function showJob(job: ProcessingJob): void {
  ui.progress.value = job.progressPercent;
  ui.progressText.value = `${Math.round(job.progressPercent)}%`;
  const parts = [
    JobStatus[job.status],
    `${job.documentsProcessed} of ${job.documentsTotal} documents done`,
    `${job.documentsFailed} failed`,
    `${job.tokensUsed} tokens`,
  ];
  if (job.statusReason) {
    parts.push(job.statusReason);
  }
  ui.jobStatus.textContent = parts.join(" · ");
}

onSubmit(ui.signInForm, signInAndListProjects);
onSubmit(ui.jobForm, startSampleJob);
ui.project.addEventListener("change", showChosenProject);
ui.email.focus();
