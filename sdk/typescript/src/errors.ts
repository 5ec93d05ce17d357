/**
 * What a refused call says beyond its code: the fields at fault (google.rpc.BadRequest, sent
 * with INVALID_ARGUMENT) and how long to wait before trying again (google.rpc.RetryInfo, sent
 * with RESOURCE_EXHAUSTED). Both arrive as binary details of the ConnectError; they are
 * decoded here so that a frontend needs no generated google.rpc messages.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { ConnectError } from "@connectrpc/connect";

export interface FieldViolation {
  /** The field's path in the request, e.g. `variable.classification_rules.categories[1].label`. */
  field: string;
  description: string;
}

/** The details of this type (e.g. "google.rpc.BadRequest") that came undecoded. */
function details(error: unknown, type: string): Uint8Array[] {
  if (!(error instanceof ConnectError)) {
    return [];
  }
  return error.details.flatMap((detail) =>
    "type" in detail && detail.type === type ? [detail.value] : [],
  );
}

/** Each field of a message's bytes: (number, reader positioned at its value). */
function* fields(bytes: Uint8Array): Generator<[number, WireType, BinaryReader]> {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    yield [number, wireType, reader];
  }
}

/** The fields an INVALID_ARGUMENT error names, with what is wrong with each. */
export function fieldViolations(error: unknown): FieldViolation[] {
  const found: FieldViolation[] = [];
  for (const bytes of details(error, "google.rpc.BadRequest")) {
    for (const [number, wireType, reader] of fields(bytes)) {
      if (number !== 1) {
        reader.skip(wireType);
        continue;
      }
      const violation: FieldViolation = { field: "", description: "" };
      for (const [inner, innerType, item] of fields(reader.bytes())) {
        if (inner === 1) violation.field = item.string();
        else if (inner === 2) violation.description = item.string();
        else item.skip(innerType);
      }
      found.push(violation);
    }
  }
  return found;
}

/** How long the server asks to wait before trying again (RESOURCE_EXHAUSTED), in ms. */
export function retryDelayMs(error: unknown): number | undefined {
  for (const bytes of details(error, "google.rpc.RetryInfo")) {
    for (const [number, wireType, reader] of fields(bytes)) {
      if (number !== 1) {
        reader.skip(wireType);
        continue;
      }
      let seconds = 0;
      let nanos = 0;
      for (const [inner, innerType, item] of fields(reader.bytes())) {
        if (inner === 1) seconds = Number(item.int64());
        else if (inner === 2) nanos = item.int32();
        else item.skip(innerType);
      }
      return seconds * 1000 + nanos / 1e6;
    }
  }
  return undefined;
}
