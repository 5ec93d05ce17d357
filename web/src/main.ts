/**
 * The smallest CoderAI web page: sign in, pick a project, start a SAMPLE job and watch its
 * events arrive over grpc-web (WatchJob) with a progress bar. Plain DOM; every call is the
 * SDK's, to the gateway that serves this page.
 */
import {
  Code,
  ConnectError,
  JobStatus,
  JobType,
  createCoderAIClient,
  type ProcessingJob,
  type Project,
  type TokenPair,
  type WatchJobResponse,
} from "@coderai/sdk";

// Kept in memory only: reloading the page signs out.
let tokens: TokenPair | undefined;
const api = createCoderAIClient(window.location.origin, () => tokens?.accessToken);

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) {
    throw new Error(`#${id} is not a ${type.name}`);
  }
  return found;
}

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

/** Runs a form's action with its buttons disabled; what fails is shown, not thrown. */
function onSubmit(form: HTMLFormElement, action: () => Promise<void>): void {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((button) => (button.disabled = true));
    showError(undefined);
    action()
      .catch(showError)
      .finally(() => buttons.forEach((button) => (button.disabled = false)));
  });
}

function showError(error: unknown): void {
  ui.error.hidden = error === undefined;
  if (error instanceof ConnectError) {
    ui.error.textContent = `${Code[error.code]}: ${error.rawMessage}`;
  } else if (error !== undefined) {
    ui.error.textContent = String(error);
  }
}

async function signIn(): Promise<void> {
  const response = await api.auth.login({ email: ui.email.value, password: ui.password.value });
  tokens = response.tokens;
  ui.password.value = "";
  ui.signedInAs.textContent = `Signed in as ${response.user?.email ?? ui.email.value}`;
  ui.signedInAs.hidden = false;
  showProjects(await listProjects());
  ui.signIn.hidden = true;
  ui.jobSetup.hidden = false;
  ui.project.focus();
}

async function listProjects(): Promise<Project[]> {
  const projects: Project[] = [];
  let pageToken = "";
  do {
    const page = await api.projects.listProjects({ pageSize: 200, pageToken });
    projects.push(...page.projects);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return projects;
}

function showProjects(projects: Project[]): void {
  const options = projects.map((project) => new Option(project.name, project.id));
  ui.project.replaceChildren(...(options.length ? options : [new Option("No projects yet", "")]));
}

async function startSampleJob(): Promise<void> {
  const { job } = await api.jobs.createJob({
    selection: {
      projectId: ui.project.value,
      type: JobType.SAMPLE,
      sampleSize: ui.sampleSize.valueAsNumber,
    },
  });
  if (job === undefined) {
    throw new Error("CreateJob answered without a job");
  }
  ui.events.replaceChildren();
  ui.jobId.textContent = job.id;
  ui.job.hidden = false;
  showJob(job);
  await watchJob(job.id);
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

async function renewTokens(): Promise<boolean> {
  if (!tokens?.refreshToken) {
    return false;
  }
  tokens = (await api.auth.refresh({ refreshToken: tokens.refreshToken })).tokens;
  return tokens !== undefined;
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

onSubmit(ui.signInForm, signIn);
onSubmit(ui.jobForm, startSampleJob);
ui.email.focus();
