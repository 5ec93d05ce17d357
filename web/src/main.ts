/**
 * The CoderAI web page, the researcher's workbench: register or sign in (and stay signed in
 * across a reload), create and edit projects, define variables and read their prompts, upload
 * documents, run and watch jobs, browse the results, review values against their evidence, code
 * a sample blind, measure agreement and refine prompts, and download the dataset. Plain DOM, one
 * module per section; every call is the SDK's, over grpc-web to the gateway that serves this
 * page. Each section shows once a project is chosen.
 */
import type { Project, User } from "@coderai/sdk";

import { showAgreement } from "./agreement.js";
import { showCoding } from "./coding.js";
import { showCopilot } from "./copilot.js";
import { showDocuments } from "./documents.js";
import { element, onSubmit, showError } from "./dom.js";
import { showExports } from "./exports.js";
import { showJobs } from "./jobs.js";
import { hideProjects, onChosen, showProjects } from "./projects.js";
import { showResults } from "./results.js";
import { showReview } from "./review.js";
import { register, restore, signIn, signOut } from "./session.js";
import { showVariables } from "./variables.js";

const ui = {
  account: element("account", HTMLElement),
  signInForm: element("sign-in-form", HTMLFormElement),
  email: element("email", HTMLInputElement),
  password: element("password", HTMLInputElement),
  registerForm: element("register-form", HTMLFormElement),
  registerEmail: element("register-email", HTMLInputElement),
  registerPassword: element("register-password", HTMLInputElement),
  registerName: element("register-name", HTMLInputElement),
  accountError: element("account-error", HTMLParagraphElement),
  signedInAs: element("signed-in-as", HTMLParagraphElement),
  signOut: element("sign-out", HTMLButtonElement),
  error: element("error", HTMLParagraphElement),
};

async function signedIn(user: User | undefined, email: string): Promise<void> {
  ui.signedInAs.textContent = `Signed in as ${user?.email ?? email}`;
  ui.signedInAs.hidden = false;
  ui.signOut.hidden = false;
  ui.account.hidden = true;
  ui.password.value = "";
  ui.registerPassword.value = "";
  await showProjects();
  element("project", HTMLSelectElement).focus();
}

function signedOut(): void {
  ui.signedInAs.hidden = true;
  ui.signOut.hidden = true;
  ui.account.hidden = false;
  hideProjects();
  ui.email.focus();
}

/** Every section follows the chosen project. */
onChosen((project: Project | undefined) => {
  showResults(project);
  showExports(project);
  showCopilot(project);
  for (const show of [showVariables, showDocuments, showJobs, showReview, showCoding, showAgreement]) {
    show(project).catch((error: unknown) => showError(ui.error, error));
  }
});

onSubmit(ui.signInForm, ui.accountError, async () => {
  await signedIn(await signIn(ui.email.value, ui.password.value), ui.email.value);
});
onSubmit(
  ui.registerForm,
  ui.accountError,
  async () => {
    const email = ui.registerEmail.value;
    await signedIn(await register(email, ui.registerPassword.value, ui.registerName.value), email);
  },
);
ui.signOut.addEventListener("click", () => {
  signOut()
    .catch((error: unknown) => showError(ui.error, error))
    .finally(signedOut);
});

// Still signed in from an earlier visit?
restore()
  .then((user) => (user ? signedIn(user, user.email) : signedOut()))
  .catch((error: unknown) => {
    showError(ui.accountError, error);
    signedOut();
  });
