// Review, blind coding, agreement and refinement in the page (web/), in headless Chromium
// through the gateway, over a project whose sample job misread every opposition as support:
// a document's values reviewed from the keyboard with their quotes highlighted, a sample drawn
// and coded blind by one coder, the model's agreement with those codes, and a refinement
// proposed from them and accepted as a new prompt version, the sample run again and the two
// versions compared on the held-out units. A screenshot of each step goes to
// --screenshot-dir (printed "screenshot: PATH").
//
//   node tests/web/quality.mjs --url URL --email E --password P --project NAME \
//     --document doc-1.txt --documents 6 --screenshot final.png --screenshot-dir DIR \
//     --download-dir DIR
import assert from "node:assert/strict";
import path from "node:path";

import { runScenario, scenarioOptions, unlessAlert } from "./scenario.mjs";

const options = scenarioOptions({
  document: { type: "string" },
  documents: { type: "string" },
  "screenshot-dir": { type: "string" },
});
let step = 0;

/** A screenshot of the page's section `id` (the whole page is the final screenshot). */
async function shot(page, name, id) {
  step += 1;
  const file = path.join(options["screenshot-dir"], `${String(step).padStart(2, "0")}-${name}.png`);
  await page.locator(`#${id}`).screenshot({ path: file });
  console.log(`screenshot: ${file}`);
}

const success =
  "added a co-pilot suggestion, reviewed a document's values by keyboard with their quotes highlighted, coded a sample " +
  "blind, measured the model's agreement and accepted a refinement";

await runScenario(options, success, async (page) => {
  // --- the co-pilot, where variables are defined: a suggestion added as it is ---------------
  await page.getByLabel("Research question").fill("Who opposes the harbour plan?");
  await page.getByRole("button", { name: "Suggest variables" }).click();
  const suggestion = page.getByTestId("suggestions").locator('[data-name="letter_sender"]');
  await unlessAlert(page, suggestion.waitFor());
  assert.match(await suggestion.innerText(), /Example: “The residents' association/);
  assert.match(await page.getByTestId("dropped-suggestions").innerText(), /Left out “stance”/);
  await shot(page, "copilot-suggestions", "copilot");
  await page.getByRole("button", { name: "Add letter_sender" }).click();
  await unlessAlert(page, page.getByTestId("variables-table").getByText("letter_sender").waitFor());

  // --- review: the document's text with each value's quote highlighted ---------------------
  await page.getByLabel("Document", { exact: true }).selectOption({ label: options.document });
  const values = page.getByTestId("review-values").getByRole("option");
  await unlessAlert(page, values.nth(1).waitFor());
  const text = page.getByTestId("review-text");
  const marks = await text.locator("mark").evaluateAll((found) =>
    found.map((mark) => ({ text: mark.textContent, owners: mark.dataset.owners.split(" ").length })),
  );
  console.log(`highlights: ${JSON.stringify(marks)}`);
  assert.ok(marks.some((mark) => /opposes the harbour plan/.test(mark.text)), "the stance's quote");
  assert.ok(marks.some((mark) => mark.owners === 2), "two quotes overlap in one mark");
  assert.equal(await text.locator("mark.current").count() > 0, true, "the first value's quote stands out");
  await shot(page, "review-document", "review");

  // From the keyboard: I, the right value, Enter; then C on the next value.
  await page.getByTestId("review-values").focus();
  await page.keyboard.press("i");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "verdict-value");
  await page.keyboard.type("oppose");
  await page.keyboard.press("Enter");
  await unlessAlert(page, page.getByTestId("review-status").filter({ hasText: "is incorrect" }).waitFor());
  await page.keyboard.press("c");
  await unlessAlert(page, page.getByTestId("review-status").filter({ hasText: "is correct" }).waitFor());
  const verdicts = await values.evaluateAll((items) => items.map((item) => item.dataset.verdict));
  assert.deepEqual(verdicts, ["INCORRECT", "CORRECT"]);
  await shot(page, "review-verdicts", "review");

  // --- blind coding: a sample of every document, coded without the model's values -----------
  await page.getByLabel("Size for variable").selectOption({ label: "stance" });
  await page.getByRole("button", { name: "Suggest a size" }).click();
  await unlessAlert(page, page.getByTestId("size-suggestion").filter({ hasText: "Suggested:" }).waitFor());
  await page.getByLabel("Sample name").fill("reliability");
  await page.getByLabel("Documents in the sample").fill(options.documents);
  await page.getByRole("button", { name: "Draw the sample" }).click();
  await unlessAlert(page, page.getByTestId("coding-status").filter({ hasText: "at random" }).waitFor());
  await page.getByLabel("Coder", { exact: true }).fill("Ada");
  await page.getByRole("button", { name: "Start coding" }).click();
  const count = Number(options.documents);
  for (let index = 0; index < count; index += 1) {
    const title = page.locator("#code-title").filter({ hasText: `Document ${index + 1} of ${count}` });
    await unlessAlert(page, title.waitFor());
    // A coder reads the text; the model's values are nowhere on the form.
    const shown = await page.getByTestId("coding-text").innerText();
    assert.equal(await page.getByTestId("code-form").locator("mark").count(), 0);
    await page.getByLabel("stance", { exact: true }).selectOption(shown.includes("opposes") ? "oppose" : "support");
    await page.getByLabel("speaker", { exact: true }).fill("The residents' association");
    if (index === 0) await shot(page, "blind-coding", "coding");
    await page.getByRole("button", { name: "Save and next" }).click();
  }
  await unlessAlert(page, page.getByTestId("coding-status").filter({ hasText: "coded by Ada" }).waitFor());

  // --- agreement with Ada's codes, then a refinement from them -------------------------------
  await page.getByLabel("Variable", { exact: true }).selectOption({ label: "stance" });
  await page.getByLabel("Reference", { exact: true }).fill("Ada");
  await page.getByRole("button", { name: "Show agreement" }).click();
  const model = page.locator('table[data-compared="model"]');
  await unlessAlert(page, model.waitFor());
  const percent = await model.locator('tr[data-measure="percent agreement"] td').nth(1).innerText();
  console.log(`percent agreement with Ada: ${percent}`);
  assert.equal(percent, "0.500");
  const caption = await model.locator("caption").innerText();
  assert.ok(caption.startsWith(`model (prompt version 1) against Ada: ${count} units`), caption);
  await page.getByTestId("calibration").first().waitFor();
  await shot(page, "agreement", "agreement");

  await page.getByRole("button", { name: "Propose a refinement from these codes" }).click();
  await unlessAlert(page, page.getByTestId("proposal-form").waitFor());
  // What was learnt depends on the random held-out split: the test compares it with the server's.
  const rules = await page.getByTestId("proposal-rules").getByRole("listitem").allInnerTexts();
  console.log(`proposal rules: ${JSON.stringify(rules)}`);
  await shot(page, "refinement-proposal", "agreement");
  await page.getByRole("button", { name: "Accept as a new prompt version" }).click();
  await unlessAlert(
    page,
    page.getByTestId("agreement-status").filter({ hasText: "Prompt version 2 is active" }).waitFor(),
  );
  await shot(page, "refinement-accepted", "agreement");

  // --- the sample again with the new version, then the two versions compared ----------------
  await page.getByLabel("Documents to sample").fill(options.documents);
  await page.getByRole("button", { name: "Start sample job" }).click();
  await unlessAlert(page, page.locator('#events [data-event-type="job_completed"]').waitFor());
  await page.getByRole("button", { name: "Compare", exact: true }).click();
  const comparison = page.getByTestId("comparison").filter({ hasText: "held out from the refinement" });
  await unlessAlert(page, comparison.waitFor());
  console.log(`comparison: ${await comparison.innerText()}`);
  const newer = page.locator("#comparison-reports table").nth(1);
  assert.match(await newer.locator("caption").innerText(), /prompt version 2/);
  assert.equal(await newer.locator('tr[data-measure="percent agreement"] td').nth(1).innerText(), "1.000");
  await shot(page, "versions-compared", "agreement");
});
