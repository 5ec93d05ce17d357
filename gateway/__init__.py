"""The browser path: grpc-web to the gRPC backend. docker-compose runs Envoy (envoy.yaml);
elsewhere `coderai gateway` runs the product's own gateway (proxy.py)."""
