/** The CoderAI SDK: the client factory, and every message, enum and service of coderai.v1. */
// A call fails with a ConnectError carrying the gRPC code: a frontend needs both to tell an
// expired token from a bad request without depending on Connect itself.
export { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
export * from "./client.js";
export * from "./errors.js";
export * from "./money.js";
export * from "./upload.js";
export * from "./gen/coderai/v1/auth_pb.js";
export * from "./gen/coderai/v1/common_pb.js";
export * from "./gen/coderai/v1/document_pb.js";
export * from "./gen/coderai/v1/export_pb.js";
export * from "./gen/coderai/v1/job_pb.js";
export * from "./gen/coderai/v1/project_pb.js";
export * from "./gen/coderai/v1/quality_pb.js";
export * from "./gen/coderai/v1/schema_pb.js";
export * from "./gen/google/type/money_pb.js";
