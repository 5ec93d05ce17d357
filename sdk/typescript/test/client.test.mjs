// The built SDK as a frontend gets it (imported by package name): a client for every service in
// protos/, and calls that reach a grpc-web server with the bearer token and decode its answer.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { test } from "node:test";

import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

import * as sdk from "@coderai/sdk";

const protoDir = new URL("../../../protos/coderai/v1/", import.meta.url);
const protoFiles = readdirSync(protoDir).filter((name) => name.endsWith(".proto"));
const servicesInProtos = protoFiles.flatMap((name) =>
  [...readFileSync(new URL(name, protoDir), "utf8").matchAll(/^service (\w+)/gm)].map((m) => m[1]),
);

test("the package exports every file of protos/coderai/v1", () => {
  for (const name of protoFiles) {
    const descriptor = sdk[`file_coderai_v1_${name.replace(/\.proto$/, "")}`];
    assert.equal(descriptor?.name, `coderai/v1/${name.replace(/\.proto$/, "")}`);
  }
});

test("createCoderAIClient has a client with every method of every service", () => {
  const client = sdk.createCoderAIClient("http://127.0.0.1:1", () => undefined);
  const clients = Object.values(client);
  assert.equal(clients.length, servicesInProtos.length);
  for (const serviceName of servicesInProtos) {
    const service = sdk[serviceName];
    assert.equal(service?.typeName, `coderai.v1.${serviceName}`);
    const methods = service.methods.map((method) => method.localName);
    const match = clients.find((c) => methods.every((m) => typeof c[m] === "function"));
    assert.ok(match, `no client with the methods of ${serviceName}: ${methods.join(", ")}`);
  }
});

/** A grpc-web server on loopback that records each request and answers with `respond`. */
async function grpcWebServer(respond) {
  const requests = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests.push({ path: req.url, headers: req.headers });
      const { message, status, statusMessage = "" } = respond(req);
      const frames = [];
      if (message) {
        frames.push(frame(0x00, message));
      }
      const trailer = `grpc-status: ${status}\r\ngrpc-message: ${encodeURIComponent(statusMessage)}\r\n`;
      frames.push(frame(0x80, new TextEncoder().encode(trailer)));
      res.writeHead(200, { "content-type": "application/grpc-web+proto" });
      res.end(Buffer.concat(frames));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { baseUrl: `http://127.0.0.1:${port}`, requests, close: () => server.close() };
}

function frame(flags, payload) {
  const header = Buffer.alloc(5);
  header.writeUInt8(flags, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, Buffer.from(payload)]);
}

test("a call carries the bearer token over grpc-web and decodes the answer", async (t) => {
  const user = create(sdk.UserSchema, { id: "u-1", email: "ada@example.org", displayName: "Ada" });
  const server = await grpcWebServer(() => ({
    message: toBinary(sdk.GetMeResponseSchema, create(sdk.GetMeResponseSchema, { user })),
    status: 0,
  }));
  t.after(server.close);
  const client = sdk.createCoderAIClient(server.baseUrl, async () => "access-token");

  const response = await client.auth.getMe({});

  assert.equal(response.user?.email, "ada@example.org");
  assert.equal(response.user?.displayName, "Ada");
  assert.equal(server.requests[0].path, "/coderai.v1.AuthService/GetMe");
  assert.equal(server.requests[0].headers.authorization, "Bearer access-token");
  assert.equal(server.requests[0].headers["content-type"], "application/grpc-web+proto");
});

test("without a token no authorization is sent, and a gRPC status becomes a ConnectError", async (t) => {
  const server = await grpcWebServer(() => ({ status: Code.Unauthenticated, statusMessage: "sign in" }));
  t.after(server.close);
  const client = sdk.createCoderAIClient(server.baseUrl, () => null);

  await assert.rejects(client.projects.listProjects({ pageSize: 10 }), (error) => {
    assert.ok(error instanceof ConnectError);
    assert.equal(error.code, Code.Unauthenticated);
    assert.equal(error.rawMessage, "sign in");
    return true;
  });
  assert.equal(server.requests[0].path, "/coderai.v1.ProjectService/ListProjects");
  assert.equal(server.requests[0].headers.authorization, undefined);
});

test("fieldViolations and retryDelayMs read google.rpc details a refused call carries", async () => {
  const { BinaryWriter } = await import("@bufbuild/protobuf/wire");
  const violation = (field, description) =>
    new BinaryWriter().tag(1, 2).string(field).tag(2, 2).string(description).finish();
  const badRequest = new BinaryWriter()
    .tag(1, 2).bytes(violation("variable.name", "must start with a letter"))
    .tag(1, 2).bytes(violation("variable.classification_rules.categories[1].label", "is empty"))
    .finish();
  const delay = new BinaryWriter().tag(1, 0).int64(2).tag(2, 0).int32(500_000_000).finish();
  const retryInfo = new BinaryWriter().tag(1, 2).bytes(delay).finish();
  const error = new ConnectError("invalid", Code.InvalidArgument, undefined, [
    { type: "google.rpc.BadRequest", value: badRequest },
    { type: "google.rpc.RetryInfo", value: retryInfo },
  ]);

  assert.deepEqual(sdk.fieldViolations(error), [
    { field: "variable.name", description: "must start with a letter" },
    { field: "variable.classification_rules.categories[1].label", description: "is empty" },
  ]);
  assert.equal(sdk.retryDelayMs(error), 2500);
  assert.deepEqual(sdk.fieldViolations(new Error("plain")), []);
  assert.equal(sdk.retryDelayMs(new ConnectError("x", Code.Internal)), undefined);
});

test("dollars reads a Money field in US dollars; unset is undefined, another currency an error", () => {
  assert.equal(sdk.dollars(create(sdk.MoneySchema, { currencyCode: "USD", units: 12n, nanos: 500_000_000 })), 12.5);
  assert.equal(sdk.dollars(create(sdk.MoneySchema, { units: 0n, nanos: 150_000 })), 0.00015);
  assert.equal(sdk.dollars(undefined), undefined);
  assert.throws(() => sdk.dollars(create(sdk.MoneySchema, { currencyCode: "EUR", units: 1n })), /US dollars/);
});

test("usd writes a decimal amount of US dollars exactly, and refuses what is not one", () => {
  const money = sdk.usd("2.50");
  assert.equal(money.currencyCode, "USD");
  assert.equal(money.units, 2n);
  assert.equal(money.nanos, 500_000_000);
  assert.equal(sdk.usd("0.000001").nanos, 1000);
  assert.equal(sdk.dollars(sdk.usd("12")), 12);
  for (const bad of ["", "-1", "1.0000000001", "1e3", "two"]) {
    assert.throws(() => sdk.usd(bad), /not an amount/);
  }
});
