// The researcher's first hour in the page (web/), in headless Chromium through the gateway:
// register, sign out and in, stay signed in across a reload, create and edit a project (its
// extraction mode too), define variables (an invalid one first: the server's message shows at
// the field), read a prompt, upload files (one corrupt) and see each parsed or failed, estimate
// (both extraction modes' cost), run a sample job with all variables in one request watched
// live, then a full job one request per variable paused, resumed and completed, with each
// document's outcome by filename. A screenshot of each step goes to --screenshot-dir (printed
// "screenshot: PATH").
//
//   node tests/web/workbench.mjs --url URL --email E --password P --project NAME \
//     --files "a.pdf,b.docx,..." --broken broken.pdf --screenshot final.png \
//     --screenshot-dir DIR --download-dir DIR --sign-in no
import assert from "node:assert/strict";
import path from "node:path";

import { runScenario, scenarioOptions, signIn, unlessAlert } from "./scenario.mjs";

const options = scenarioOptions({
  files: { type: "string" },
  broken: { type: "string" },
  "screenshot-dir": { type: "string" },
});
const files = options.files.split(",");
const documents = files.length; // the broken one is not among them
let step = 0;

async function shot(page, name) {
  step += 1;
  const file = path.join(options["screenshot-dir"], `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
}

/** The job's status as the page shows it, once it is `status`. */
async function jobStatus(page, status) {
  await unlessAlert(page, page.locator(`[data-testid="job-status"][data-status="${status}"]`).waitFor());
}

/** Chooses how the project asks the model, saved; the form shows what the server kept. */
async function chooseExtractionMode(page, label, value) {
  const mode = page.getByLabel("Ask the model");
  await mode.selectOption({ label });
  const save = page.getByRole("button", { name: "Save project" });
  await save.click();
  // The buttons are enabled again once the project is saved and the form refilled from it.
  await unlessAlert(page, page.locator("#save-project:enabled").waitFor());
  assert.equal(await mode.inputValue(), value);
}

const success =
  "registered, signed out and in, reloaded signed in, made a project, variables and uploads, " +
  "ran a sample job and a full job paused and resumed, each document's outcome shown";

await runScenario(options, success, async (page) => {
  // --- the account ------------------------------------------------------------------------
  await page.getByLabel("Your email").fill(options.email);
  await page.getByLabel("Choose a password").fill(options.password);
  await page.getByLabel("Your name (optional)").fill("Ada");
  await page.getByRole("button", { name: "Create account" }).click();
  await unlessAlert(page, page.getByTestId("signed-in-as").waitFor());
  assert.match(await page.getByTestId("signed-in-as").innerText(), new RegExp(options.email));
  await shot(page, "registered");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
  await signIn(page, options.email, options.password);
  await page.reload();
  await unlessAlert(page, page.getByTestId("signed-in-as").waitFor());
  await shot(page, "still-signed-in-after-reload");

  // --- the project ------------------------------------------------------------------------
  await page.getByLabel("Name", { exact: true }).fill(options.project);
  await page.getByLabel("Domain").fill("local goverment");
  await page.getByRole("button", { name: "Create project" }).click();
  const chooser = page.getByLabel("Project", { exact: true });
  await unlessAlert(page, chooser.locator("option", { hasText: options.project }).waitFor({ state: "attached" }));
  assert.equal(await page.getByLabel("Ask the model").inputValue(), "1", "one request per variable");
  await page.getByLabel("Domain").fill("local government");
  await chooseExtractionMode(page, "All variables in one request (cheaper, a little less accurate)", "2");
  await page.locator("#project-form-legend", { hasText: `Edit ${options.project}` }).waitFor();
  assert.equal(await page.getByLabel("Domain").inputValue(), "local government");

  // --- variables: the server's complaint at the field, then three good ones ----------------
  const name = page.getByLabel("Column name");
  await name.fill("2nd budget");
  await page.getByLabel("Type", { exact: true }).selectOption({ label: "number" });
  await page.getByLabel("Instructions").fill("The budget of the plan in euros.");
  await page.getByRole("button", { name: "Add variable" }).click();
  const complaint = page.getByTestId("field-error").first();
  await complaint.waitFor();
  assert.equal(await name.getAttribute("aria-invalid"), "true");
  assert.equal(await name.getAttribute("aria-describedby"), await complaint.getAttribute("id"));
  console.log(`at the field: ${await complaint.innerText()}`);
  await shot(page, "invalid-variable");

  const variables = page.getByTestId("variables-table");
  async function addVariable(column, type, instructions, categories = []) {
    await name.fill(column);
    await page.getByLabel("Type", { exact: true }).selectOption({ label: type });
    await page.getByLabel("Instructions").fill(instructions);
    for (const [index, [label, definition]] of categories.entries()) {
      await page.getByRole("button", { name: "Add category" }).click();
      await page.getByLabel(`Category ${index + 1} label`).fill(label);
      await page.getByLabel(`Category ${index + 1} definition`).fill(definition);
    }
    await page.getByRole("button", { name: "Add variable" }).click();
    await unlessAlert(page, variables.getByRole("cell", { name: column, exact: true }).waitFor());
  }
  await addVariable("budget", "number", "The budget of the plan in euros.");
  await addVariable("plan", "text", "What the plan approved by the council is for.");
  await addVariable("sector", "category", "The policy sector of the plan.", [
    ["infrastructure", "sea walls, dunes, harbour works, roads"],
    ["health", "hospitals, doctors, patients"],
  ]);
  await page.getByRole("button", { name: "Prompt of sector" }).click();
  await page.getByTestId("prompt-text").filter({ hasText: "infrastructure" }).waitFor();
  await shot(page, "variables-and-a-prompt");

  // --- documents ---------------------------------------------------------------------------
  await page.getByLabel("Upload files").setInputFiles([...files, options.broken]);
  const uploads = page.getByTestId("upload");
  await unlessAlert(page, page.locator('[data-testid="upload"][data-outcome]').nth(documents).waitFor());
  assert.equal(await page.locator('[data-testid="upload"][data-outcome="uploaded"]').count(), documents + 1);
  assert.equal(await uploads.count(), documents + 1);
  const rows = page.getByTestId("document");
  await page.locator('[data-testid="document"][data-status="READY"]').nth(documents - 1).waitFor();
  const failed = page.locator('[data-testid="document"][data-status="FAILED"]');
  await failed.waitFor();
  assert.equal(await rows.count(), documents + 1);
  console.log(`failed document: ${await failed.innerText()}`);
  assert.match(await failed.innerText(), /broken\.pdf/);
  assert.ok((await failed.locator("td").nth(3).innerText()).length > 10, "says why it failed");
  await shot(page, "documents");

  // --- a sample job, estimated first, started from the keyboard ---------------------------
  const size = page.getByLabel("Documents to sample");
  await size.fill("2");
  await size.focus();
  await page.keyboard.press("Tab"); // the cost budget, left empty: no budget
  assert.equal(await page.evaluate(() => document.activeElement?.id), "cost-budget");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Estimate");
  await page.keyboard.press("Enter");
  await page.getByTestId("estimate").filter({ hasText: "2 documents" }).waitFor();
  assert.match(
    await page.getByTestId("estimate").innerText(),
    /all variables in one request \(this project's choice\)/,
  );
  // Both modes' cost, the project's marked: asking all variables at once takes fewer calls.
  const modes = page.getByTestId("estimate-mode");
  assert.equal(await modes.count(), 2);
  const cells = async (mode) =>
    page.locator(`[data-testid="estimate-mode"][data-mode="${mode}"] td`).allInnerTexts();
  const perVariable = await cells("PER_VARIABLE");
  const grouped = await cells("GROUPED");
  console.log(`estimate per variable: ${perVariable.join(" | ")}`);
  console.log(`estimate grouped: ${grouped.join(" | ")}`);
  assert.match(grouped[0], /\(this project\)$/);
  assert.doesNotMatch(perVariable[0], /this project/);
  const count = (text) => Number(text.replace(/[^0-9].*$/, "").replaceAll(",", ""));
  assert.ok(count(grouped[1]) < count(perVariable[1]), "fewer model calls grouped");
  assert.ok(count(grouped[2]) < count(perVariable[2]), "fewer prompt tokens grouped");
  for (const cost of [...perVariable.slice(4), ...grouped.slice(4)]) {
    assert.match(cost, /^\$\d+\.\d{4}$|^unknown/);
  }
  await shot(page, "estimate-both-modes");
  await page.getByRole("button", { name: "Start sample job" }).click();
  await unlessAlert(page, page.locator('#events [data-event-type="job_completed"]').waitFor());
  const sampleStatus = page.getByTestId("job-status");
  assert.equal(await sampleStatus.getAttribute("data-extraction-mode"), "GROUPED");
  assert.match(await sampleStatus.innerText(), /all variables in one request/);
  assert.match(await sampleStatus.innerText(), /\d+ of them from the prompt cache/);
  const outcomes = page.getByTestId("job-document");
  await page.locator('[data-testid="job-document"][data-outcome="PROCESSED"]').nth(1).waitFor();
  assert.equal(await outcomes.count(), 2);
  await shot(page, "sample-job");

  // --- the full job, one request per variable: paused after its first document, resumed --
  // The mode changed re-extracts nothing: the sample's two documents are skipped below.
  const sampleJob = await page.getByTestId("job-id").innerText();
  await chooseExtractionMode(page, "One request per variable (most accurate)", "1");
  // With a cost budget it will not reach: the job carries it, exactly, and shows it.
  await page.getByLabel("Pause before it spends more than (US$, optional)").fill("50");
  await page.getByRole("button", { name: "Start full job" }).click();
  await page.getByTestId("job-id").filter({ hasNotText: sampleJob }).waitFor();
  assert.equal(await page.getByTestId("job-status").getAttribute("data-extraction-mode"), "PER_VARIABLE");
  assert.match(await page.getByTestId("job-status").innerText(), /pauses before it spends more than \$50\.0000/);
  // A document processed, not one skipped as already done (those complete at once).
  const processed = page
    .locator('#events [data-event-type="document_completed"]')
    .filter({ hasNotText: "skipped:" });
  await unlessAlert(page, processed.first().waitFor());
  await page.getByRole("button", { name: "Pause" }).click();
  await jobStatus(page, "PAUSED");
  // The document's line follows its event (the list is read again on each document's event).
  const documentsStatus = page.getByTestId("job-documents-status");
  await unlessAlert(page, documentsStatus.filter({ hasText: /^[1-9]\d* processed/ }).waitFor());
  const paused = await documentsStatus.innerText();
  console.log(`paused: ${paused}`);
  assert.doesNotMatch(paused, / 0 to go$/, "paused with documents left");
  await shot(page, "full-job-paused");
  await page.getByRole("button", { name: "Resume" }).click();
  await jobStatus(page, "COMPLETED");
  await page.locator('[data-testid="job-document"][data-outcome="PROCESSED"]').nth(documents - 3).waitFor();
  const table = await outcomes.evaluateAll((items) => items.map((item) => item.dataset.outcome));
  console.log(`full job documents: ${table.join(", ")}`);
  assert.equal(table.length, documents);
  assert.equal(table.filter((outcome) => outcome === "SKIPPED").length, 2, "the sample's two");
  assert.equal(table.filter((outcome) => outcome === "PROCESSED").length, documents - 2);
  const named = await outcomes.first().locator("td").first().innerText();
  assert.ok(files.some((file) => file.endsWith(named)), `by filename: ${named}`);
  await shot(page, "full-job-completed");
});
