/** The CoderAI SDK: the client factory, and every message, enum and service of coderai.v1. */
export * from "./client.js";
export * from "./gen/coderai/v1/auth_pb.js";
export * from "./gen/coderai/v1/common_pb.js";
export * from "./gen/coderai/v1/document_pb.js";
export * from "./gen/coderai/v1/export_pb.js";
export * from "./gen/coderai/v1/job_pb.js";
export * from "./gen/coderai/v1/project_pb.js";
export * from "./gen/coderai/v1/schema_pb.js";
