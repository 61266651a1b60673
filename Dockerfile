# framegate's gw as a container image: docker build -t framegate/gw .
#
# The build stage compiles a static gw (CGO_ENABLED=0) with the Go release the
# Makefile pins (GOTOOLCHAIN=go1.27.3; go.mod needs Go 1.27 for
# encoding/json/v2). GOTOOLCHAIN=local makes the build use the image's Go and
# never download another one. The final stage is distroless: no shell, no
# package manager, user nonroot (65532).
#
# gw binds 127.0.0.1 by default: in a container pass 0.0.0.0 addresses, e.g.
#   docker run --rm -p 7070:7070 framegate/gw \
#     backend -native-addr 0.0.0.0:7070 -data-dir /tmp/data
#   docker run --rm -p 9090:9090 -p 8080:8080 framegate/gw \
#     serve -grpc-addr 0.0.0.0:9090 -http-addr 0.0.0.0:8080 -native-addr '' \
#     -backend tcp://BACKEND_HOST:7070
# The store above is in the container's /tmp and is lost with it;
# deploy/kubernetes mounts an emptyDir at /data instead.

ARG GO_VERSION=1.27.3

FROM docker.io/library/golang:${GO_VERSION} AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags='-s -w' -o /out/gw ./cmd/gw

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gw /gw
USER nonroot:nonroot
# gRPC, HTTP (REST, /healthz, /metrics), native.
EXPOSE 9090 8080 7070
ENTRYPOINT ["/gw"]
