/**
 * A typed CoderAI client for the browser: one Connect client per service, over grpc-web.
 * Browsers cannot stream to the server, so upload with BeginUpload/AppendUpload/FinishUpload
 * rather than UploadDocument.
 */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport, type GrpcWebTransportOptions } from "@connectrpc/connect-web";

import { AuthService } from "./gen/coderai/v1/auth_pb.js";
import { DocumentService } from "./gen/coderai/v1/document_pb.js";
import { ExportService } from "./gen/coderai/v1/export_pb.js";
import { JobService } from "./gen/coderai/v1/job_pb.js";
import { ProjectService } from "./gen/coderai/v1/project_pb.js";
import { QualityService } from "./gen/coderai/v1/quality_pb.js";
import { SchemaService } from "./gen/coderai/v1/schema_pb.js";

/**
 * The current access token, or nothing when signed out: Register, Login, Refresh and Logout
 * need none. Called before every request, so a refreshed token is picked up at once.
 */
export type AccessTokenSource = () =>
  | string
  | null
  | undefined
  | Promise<string | null | undefined>;

export interface CoderAIClient {
  auth: Client<typeof AuthService>;
  projects: Client<typeof ProjectService>;
  schema: Client<typeof SchemaService>;
  documents: Client<typeof DocumentService>;
  jobs: Client<typeof JobService>;
  exports: Client<typeof ExportService>;
  quality: Client<typeof QualityService>;
}

/** Sets `authorization: Bearer <token>` on every request made while a token is at hand. */
export function bearerAuth(getToken: AccessTokenSource): Interceptor {
  return (next) => async (request) => {
    const token = await getToken();
    if (token) {
      request.header.set("authorization", `Bearer ${token}`);
    }
    return next(request);
  };
}

/**
 * Clients for every CoderAI service at `baseUrl` (the grpc-web gateway, e.g. Envoy), signed
 * with the token `getToken` returns. `options` reach the transport: `fetch` (to send
 * cookies, say), `defaultTimeoutMs`, more interceptors (run after the bearer one).
 */
export function createCoderAIClient(
  baseUrl: string,
  getToken: AccessTokenSource,
  options: Omit<GrpcWebTransportOptions, "baseUrl"> = {},
): CoderAIClient {
  const transport = createGrpcWebTransport({
    ...options,
    baseUrl,
    interceptors: [bearerAuth(getToken), ...(options.interceptors ?? [])],
  });
  return {
    auth: createClient(AuthService, transport),
    projects: createClient(ProjectService, transport),
    schema: createClient(SchemaService, transport),
    documents: createClient(DocumentService, transport),
    jobs: createClient(JobService, transport),
    exports: createClient(ExportService, transport),
    quality: createClient(QualityService, transport),
  };
}
