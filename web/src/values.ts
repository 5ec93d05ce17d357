/**
 * Values as the page shows them and as a person types them: a google.protobuf.Value as text
 * (lists joined with "; "), and typed text as the Value of a variable's type. The document text
 * the values are about, read a page at a time, with quotes highlighted at their offsets.
 */
import { VariableType, type ResultCell } from "@coderai/sdk";

import { api } from "./session.js";

/** A google.protobuf.Value, as the SDK's messages hold it. */
export type Value = NonNullable<ResultCell["value"]>;

/** A google.protobuf.Value as the page shows it: lists joined with "; ". */
export function valueText(value: Value | undefined): string {
  const kind = value?.kind;
  switch (kind?.case) {
    case "stringValue":
    case "numberValue":
    case "boolValue":
      return String(kind.value);
    case "listValue":
      return kind.value.values.map(valueText).join("; ");
    case "structValue":
      return Object.entries(kind.value.fields)
        .map(([key, field]) => `${key}: ${valueText(field)}`)
        .join(", ");
    default:
      return "";
  }
}

/** What a person typed as a value of the variable's type; undefined for nothing typed (the
 * server checks the rest: a category label, a date, a number in range). */
export function typedValue(text: string, type: VariableType): Value | undefined {
  const typed = text.trim();
  if (!typed) {
    return undefined;
  }
  if (type === VariableType.NUMBER && Number.isFinite(Number(typed))) {
    return { kind: { case: "numberValue", value: Number(typed) } } as Value;
  }
  if (type === VariableType.BOOLEAN && /^(true|false)$/i.test(typed)) {
    return { kind: { case: "boolValue", value: typed.toLowerCase() === "true" } } as Value;
  }
  return { kind: { case: "stringValue", value: typed } } as Value;
}

/** A document's whole text, read a page at a time. */
export async function documentText(documentId: string): Promise<string> {
  let text = "";
  let offset = 0;
  for (;;) {
    const page = await api.documents.getDocumentText({ documentId, offset });
    text += page.text;
    if (!page.nextOffset) {
      return text;
    }
    offset = page.nextOffset;
  }
}

/** A stretch of the text to highlight: [start, end) in characters (code points, as the
 * server counts them) and who it belongs to. */
export type Highlight = { start: number; end: number; owner: string };

/** Shows `text` in `container` with each highlight in a <mark>; where highlights overlap,
 * the overlap is one mark naming every owner (data-owners). Offsets count code points, so a
 * character outside the BMP (an emoji) is one, as on the server. */
export function showHighlighted(container: HTMLElement, text: string, highlights: Highlight[]): void {
  const characters = Array.from(text);
  const cuts = new Set([0, characters.length]);
  const placed = highlights.filter((h) => h.start < h.end && h.end <= characters.length);
  for (const { start, end } of placed) {
    cuts.add(start);
    cuts.add(end);
  }
  const bounds = [...cuts].sort((a, b) => a - b);
  const parts: Node[] = [];
  for (let index = 0; index + 1 < bounds.length; index += 1) {
    const [start, end] = [bounds[index] ?? 0, bounds[index + 1] ?? 0];
    const piece = characters.slice(start, end).join("");
    const owners = placed.filter((h) => h.start <= start && end <= h.end).map((h) => h.owner);
    if (owners.length) {
      const mark = document.createElement("mark");
      mark.dataset.owners = owners.join(" ");
      mark.textContent = piece;
      parts.push(mark);
    } else {
      parts.push(document.createTextNode(piece));
    }
  }
  container.replaceChildren(...parts);
}
